/**
 * The outside world the session expects back (FIELD-NOTES 6, CRIU-NOTES §3, §8):
 * FIFOs recreated at their path (mode 0600, opened O_RDWR so the open does not
 * block), and external unix streams replaced by one end of a closed socketpair.
 * The fds are opened by a tiny wrapper right before criu, because criu inherits
 * them by number and a transient scope is entered by exec.
 */
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, rmSync } from 'node:fs';
import type { Runner } from '../tools/runner.js';
import type { FifoToRecreate, SocketDir, UnixReconnect } from '../state/manifest.js';

export async function recreateFifos(runner: Runner, fifos: readonly FifoToRecreate[]): Promise<void> {
  for (const fifo of fifos) {
    if (existsSync(fifo.path) && !lstatSync(fifo.path).isFIFO()) rmSync(fifo.path); // a regular file there fails "bad mode"
    if (!existsSync(fifo.path)) await runner.run({ file: 'mkdir', args: ['-p', '--', parentOf(fifo.path)] });
    if (!existsSync(fifo.path)) await runner.run({ file: 'mkfifo', args: ['-m', (fifo.mode & 0o7777).toString(8), '--', fifo.path] });
    chownSync(fifo.path, fifo.uid, fifo.gid);
  }
}

/** A bound socket's directory the boot removed (tmux's /tmp/tmux-0), as it was: criu binds into it, and tmux checks its mode. */
export function recreateSocketDirs(dirs: readonly SocketDir[]): string[] {
  const made = dirs.filter((d) => !existsSync(d.path));
  for (const dir of made) {
    mkdirSync(dir.path, { recursive: true });
    chmodSync(dir.path, dir.mode);
    chownSync(dir.path, dir.uid, dir.gid);
  }
  return made.map((d) => d.path);
}

function parentOf(path: string): string {
  return path.slice(0, path.lastIndexOf('/')) || '/';
}

const SOCKETPAIR_PY = [
  'import os, socket, sys',
  'args = sys.argv[1:]',
  'cut = args.index("--")',
  'for spec in args[:cut]:',
  '    kind, fd, path = spec.split(":", 2)',
  '    fd = int(fd)',
  '    if kind == "fifo":',
  '        n = os.open(path, os.O_RDWR)',
  '    else:',
  '        a, b = socket.socketpair()',
  '        n = a.detach()',
  '        b.close()',
  '    if n != fd:',
  '        os.dup2(n, fd)',
  '        os.close(n)',
  '    os.set_inheritable(fd, True)',
  'os.execvp(args[cut + 1], args[cut + 1:])',
].join('\n');

/**
 * Argv prefix that opens the inherited fds, then execs `command`. dash is enough
 * for FIFOs (fds 3-9); python3 (which crit needs anyway) is used only when a
 * socketpair is needed.
 */
export function fdOpenerArgv(fifos: readonly FifoToRecreate[], unix: readonly UnixReconnect[], command: readonly string[]): string[] {
  if (fifos.length === 0 && unix.length === 0) return [...command];
  if (unix.length === 0 && fifos.every((f) => f.fd <= 9)) {
    const opens = fifos.map((f, i) => `exec ${f.fd}<>"$${i + 1}"`).join('; ');
    return ['/bin/sh', '-c', `${opens}; shift ${fifos.length}; exec "$@"`, 'kernel-leap-fds', ...fifos.map((f) => f.path), ...command];
  }
  const specs = [...fifos.map((f) => `fifo:${f.fd}:${f.path}`), ...unix.map((u) => `pair:${u.fd}:`)];
  return ['python3', '-c', SOCKETPAIR_PY, ...specs, '--', ...command];
}
