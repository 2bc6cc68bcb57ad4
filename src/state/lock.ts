/**
 * An exclusive lock file that names its owner (pid and boot). A lock whose owner
 * is gone, or lived on an earlier boot, is taken over: a crash or a kexec must
 * never lock work out for good.
 */
import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import { liveProc } from '../tools/procfs.js';

export type Lock = { held: true; release(): void } | { held: false; owner: number };

export function tryLock(path: string): Lock {
  if (create(path)) return held(path);
  const owner = readOwner(path);
  if (owner.alive) return { held: false, owner: owner.pid };
  rmSync(path, { force: true });
  return create(path) ? held(path) : { held: false, owner: readOwner(path).pid };
}

function create(path: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
  try {
    writeSync(fd, `${process.pid} ${bootId()}\n`);
  } finally {
    closeSync(fd);
  }
  return true;
}

function held(path: string): Lock {
  return { held: true, release: () => rmSync(path, { force: true }) };
}

function readOwner(path: string): { pid: number; alive: boolean } {
  const [pidText, boot] = (liveProc.readText(path) ?? '').trim().split(' ');
  const pid = Number(pidText);
  const alive = Number.isInteger(pid) && pid > 0 && boot === bootId() && liveProc.readText(`/proc/${pid}/stat`) !== undefined;
  return { pid, alive };
}

function bootId(): string {
  return liveProc.readText('/proc/sys/kernel/random/boot_id')?.trim() ?? 'unknown';
}
