# Clears O_NONBLOCK on open files of other processes, each argument PID:FD
# (src/tools/fd-flags.ts runs it as `python3 -c`). pidfd_getfd(2) is the only way
# to reach the open file itself: opening /proc/PID/fd/N would make a new one.
import ctypes, fcntl, os, sys

# 438 is pidfd_getfd on every architecture (the syscall table is shared since 5.1).
PIDFD_GETFD = 438

libc = ctypes.CDLL(None, use_errno=True)
for arg in sys.argv[1:]:
    pid, fd = map(int, arg.split(':'))
    pidfd = os.pidfd_open(pid)
    mine = libc.syscall(PIDFD_GETFD, pidfd, fd, 0)
    if mine < 0:
        raise OSError(ctypes.get_errno(), 'pidfd_getfd ' + arg)
    fcntl.fcntl(mine, fcntl.F_SETFL, fcntl.fcntl(mine, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    os.close(mine)
    os.close(pidfd)
