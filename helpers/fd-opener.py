# Opens the fds a restored tree expects, then execs the command after `--`.
# Arguments: KIND:FD:ARG ... -- COMMAND...; KIND is fifo (ARG its path), pair
# (ARG the name both trees' restores meet on, or none), tty or tty-nb (ARG the
# terminal's path, or none). What each kind does and why: fdOpenerArgv in
# src/steps/restore/world.ts, which runs it on one line, as `python3 -c`.
import os, socket, sys, time
HOLD_S = 300


def child(keep, work):
    first = os.fork()
    if first:
        os.waitpid(first, 0)
        return
    try:
        if os.fork() == 0:
            for n in range(3, 1024):
                if n not in keep:
                    try:
                        os.close(n)
                    except OSError:
                        pass
            null = os.open("/dev/null", os.O_RDWR)
            for n in (0, 1, 2):
                os.dup2(null, n)
            os.close(null)
            work()
    finally:
        os._exit(0)


# The end the peer's restore holds under NAME, if it does. A name bound but not
# listening yet refuses too: with TRIES, that is asked again for a moment.
def take(name, tries=1):
    for _ in range(tries):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect("\0" + name)
            s.settimeout(10)
            return socket.recv_fds(s, 1, 1)[1][0]
        except ConnectionRefusedError:
            time.sleep(0.01)
        except (OSError, IndexError):
            return None
        finally:
            s.close()
    return None


def give(lsn, end):
    lsn.settimeout(HOLD_S)
    socket.send_fds(lsn.accept()[0], [b"k"], [end.fileno()])


def pair(name):
    got = take(name) if name else None
    if got is not None:
        return got
    a, b = socket.socketpair()
    if name:
        lsn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            lsn.bind("\0" + name)
        except OSError:
            # The peer's restore, side by side with this one, bound it first: its end is this one's.
            lsn.close()
            got = take(name, 300)
            if got is not None:
                a.close()
                b.close()
                return got
        else:
            lsn.listen(1)
            child((lsn.fileno(), b.fileno()), lambda: give(lsn, b))
            lsn.close()
    b.close()
    return a.detach()


def tty(path, nonblocking):
    try:
        n = os.open(path, os.O_RDWR | os.O_NOCTTY)
    except OSError:
        master, n = os.openpty()
        child((master,), lambda: time.sleep(HOLD_S))
        os.close(master)
    os.set_blocking(n, not nonblocking)
    return n


args = sys.argv[1:]
cut = args.index("--")
for spec in args[:cut]:
    kind, fd, arg = spec.split(":", 2)
    fd = int(fd)
    if kind == "fifo":
        n = os.open(arg, os.O_RDWR)
    elif kind == "pair":
        n = pair(arg)
    else:
        n = tty(arg, kind == "tty-nb")
    if n != fd:
        os.dup2(n, fd)
        os.close(n)
    os.set_inheritable(fd, True)
os.execvp(args[cut + 1], args[cut + 1:])
