/**
 * Putting another process's open file back in blocking mode. pidfd_getfd(2)
 * (Linux 5.6) is the only way to reach the open file itself: opening
 * /proc/PID/fd/N makes a new one. Node cannot call it; python3's ctypes can, and
 * python3 is on every machine with criu (crit runs on it).
 */
import CLEAR_NONBLOCKING from '../../helpers/clear-nonblocking.py';
import type { Runner } from './runner.js';

export interface ProcessFd {
  pid: number;
  fd: number;
}

export const O_NONBLOCK = 0o4000;

/** Clears O_NONBLOCK on each open file; fds that share one open file need only one of them. */
export async function clearNonBlocking(runner: Runner, fds: readonly ProcessFd[]): Promise<void> {
  if (fds.length === 0) return;
  await runner.run({
    file: 'python3',
    args: ['-c', CLEAR_NONBLOCKING, ...fds.map((f) => `${f.pid}:${f.fd}`)],
    timeoutMs: 60_000,
  });
}
