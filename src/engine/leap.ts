/**
 * The sessions of one leap: the caller's, which ran the command, and with
 * `--all-ssh` the others. The caller's is dumped last, so that a failure leaves
 * it running to hear of it; its run names the worker and holds what all share.
 */
import { LeapError } from '../errors.js';

export interface Leap<T> {
  caller: T;
  others: readonly T[];
}

/** From sessions in dump order, the caller's last (as `callerLast` orders them). */
export function leapOf<T>(sessions: readonly T[]): Leap<T> {
  const caller = sessions.at(-1);
  if (caller === undefined)
    throw new LeapError('NO_SESSION', 'a leap needs at least one session', {
      hint: 'this is a bug in kernel-leap: discovery found no session and did not say so',
    });
  return { caller, others: sessions.slice(0, -1) };
}

/** Every session in dump order: the others, then the caller's. */
export function inDumpOrder<T>(leap: Leap<T>): T[] {
  return [...leap.others, leap.caller];
}

export function mapLeap<T, U>(leap: Leap<T>, f: (session: T) => U): Leap<U> {
  return { caller: f(leap.caller), others: leap.others.map(f) };
}
