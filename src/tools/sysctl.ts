/**
 * Kernel settings under /proc/sys, set for the length of one piece of work. The
 * value from before is saved first (`<saved>/<key>`), so that a process killed in
 * the middle does not leave the setting changed: the restore unit's
 * ExecStopPost= puts back whatever is saved there.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface SysctlPaths {
  procSys: string;
  savedSysctls: string;
}

/** `net.ipv4.tcp_window_scaling` -> /proc/sys/net/ipv4/tcp_window_scaling */
function sysctlPath(procSys: string, key: string): string {
  return join(procSys, ...key.split('.'));
}

export async function withSysctl<T>(
  paths: SysctlPaths,
  key: string,
  value: string,
  work: () => Promise<T>,
): Promise<T> {
  const path = sysctlPath(paths.procSys, key);
  const previous = readFileSync(path, 'utf8').trim();
  if (previous === value) return work();
  const saved = join(paths.savedSysctls, key);
  mkdirSync(paths.savedSysctls, { recursive: true, mode: 0o700 });
  writeFileSync(saved, `${previous}\n`, { mode: 0o600 });
  writeFileSync(path, value);
  try {
    return await work();
  } finally {
    writeFileSync(path, previous);
    rmSync(saved, { force: true });
  }
}
