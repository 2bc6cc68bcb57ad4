/** Kernel settings under /proc/sys, set for the length of one piece of work. */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** `net.ipv4.tcp_window_scaling` -> /proc/sys/net/ipv4/tcp_window_scaling */
function sysctlPath(procSys: string, key: string): string {
  return join(procSys, ...key.split('.'));
}

export async function withSysctl<T>(procSys: string, key: string, value: string, work: () => Promise<T>): Promise<T> {
  const path = sysctlPath(procSys, key);
  const previous = readFileSync(path, 'utf8').trim();
  if (previous === value) return work();
  writeFileSync(path, value);
  try {
    return await work();
  } finally {
    writeFileSync(path, previous);
  }
}
