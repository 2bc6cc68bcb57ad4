/**
 * The fds the session expects back (docs/criu-facts.md §9, §10): FIFOs at their
 * path (which the restore script makes, templates/restore-tree.sh.hbs), opened
 * O_RDWR so the open does not block, external unix streams replaced by one end of
 * a socketpair (closed, or shared with the peer tree's restore), and terminals
 * held of another tree. They are opened by a tiny wrapper right before criu,
 * because criu inherits them by number and a transient scope is entered by exec.
 */
import FD_OPENER_PY from '../../../helpers/fd-opener.py';
import type { FifoToRecreate, UnixReconnect } from '../../state/manifest.js';

/** A held terminal to open for criu, at the path its owner's restore gave it. */
export interface TerminalToOpen {
  fd: number;
  /** Undefined: its owner was not restored, so a stand-in that hangs up. */
  path: string | undefined;
  nonBlocking: boolean;
}

/**
 * Argv prefix that opens the inherited fds, then execs `command`. dash is enough
 * for FIFOs (fds 3-9); python3 (which crit needs anyway), running
 * helpers/fd-opener.py, is used for the rest. There, fifo: opened O_RDWR at its
 * path. pair: one end of a new socketpair; with a name, the restore of the peer
 * tree gets the other end: the first of the two to bind that abstract name (they
 * may run side by side at boot) leaves a holder listening on it, and the second
 * takes the end from it (the holder gives up after HOLD_S, and its end closes). tty: a terminal another tree's restore
 * made, by path; if it is gone, the slave of a new pty whose master a child holds
 * for HOLD_S (criu must find a live terminal to restore), so the tree sees it hang
 * up after that. Holders are forked twice: criu must stay the only child of the
 * unshare that the restore execs.
 */
export function fdOpenerArgv(
  fifos: readonly FifoToRecreate[],
  unix: readonly UnixReconnect[],
  terminals: readonly TerminalToOpen[],
  command: readonly string[],
): string[] {
  if (fifos.length === 0 && unix.length === 0 && terminals.length === 0) return [...command];
  if (unix.length === 0 && terminals.length === 0 && fifos.every((f) => f.fd <= 9)) {
    const opens = fifos.map((f, i) => `exec ${f.fd}<>"$${i + 1}"`).join('; ');
    return [
      '/bin/sh',
      '-c',
      `${opens}; shift ${fifos.length}; exec "$@"`,
      'kernel-leap-fds',
      ...fifos.map((f) => f.path),
      ...command,
    ];
  }
  const specs = [
    ...fifos.map((f) => `fifo:${f.fd}:${f.path}`),
    ...unix.map((u) => `pair:${u.fd}:${u.rejoin ?? ''}`),
    ...terminals.map((t) => `${t.nonBlocking ? 'tty-nb' : 'tty'}:${t.fd}:${t.path ?? ''}`),
  ];
  // On one line, as a Python string: the restore script carries the argv as sh words.
  return ['python3', '-c', `exec(${JSON.stringify(FD_OPENER_PY)})`, ...specs, '--', ...command];
}
