/**
 * Putting another process's open file back in blocking mode. pidfd_getfd(2)
 * (Linux 5.6) is the only way to reach the open file itself: opening
 * /proc/PID/fd/N makes a new one. Node cannot call it; python3's ctypes can, and
 * python3 is on every machine with criu (crit runs on it).
 */
import type { Runner } from './runner.js';

export interface ProcessFd {
  pid: number;
  fd: number;
}

export const O_NONBLOCK = 0o4000;

// 438 is pidfd_getfd on every architecture (the syscall table is shared since 5.1).
const CLEAR_NONBLOCK = `
import ctypes, fcntl, os, sys
libc = ctypes.CDLL(None, use_errno=True)
for arg in sys.argv[1:]:
    pid, fd = map(int, arg.split(':'))
    pidfd = os.pidfd_open(pid)
    mine = libc.syscall(438, pidfd, fd, 0)
    if mine < 0:
        raise OSError(ctypes.get_errno(), 'pidfd_getfd ' + arg)
    fcntl.fcntl(mine, fcntl.F_SETFL, fcntl.fcntl(mine, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    os.close(mine)
    os.close(pidfd)
`;

/** Clears O_NONBLOCK on each open file; fds that share one open file need only one of them. */
export async function clearNonBlocking(runner: Runner, fds: readonly ProcessFd[]): Promise<void> {
  if (fds.length === 0) return;
  await runner.run({
    file: 'python3',
    args: ['-c', CLEAR_NONBLOCK, ...fds.map((f) => `${f.pid}:${f.fd}`)],
    timeoutMs: 60_000,
  });
}
