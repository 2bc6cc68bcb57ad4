/**
 * One leap at a time on the machine. The worker holds `<state>/leap.lock` from
 * its plan to its jump (the kexec ends it with the boot; a dead worker's lock is
 * taken over). Two leaps at once would overwrite each other's pending mark, lock
 * rules, boot units and loaded kernel, and one session would not come back.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

import { ExitCode, LeapError } from '../errors.js';
import { tryLock } from './lock.js';
import { pendingRuns } from './pending.js';

export function leapLockPath(stateDir: string): string {
  return join(stateDir, 'leap.lock');
}

/** Takes the machine's leap lock, or says who holds it; returns its release. */
export function takeLeapLock(stateDir: string): () => void {
  // The first leap on a machine takes it before any run has made the state dir.
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const lock = tryLock(leapLockPath(stateDir));
  if (lock.held) return lock.release;
  throw new LeapError(
    'LEAP_UNDER_WAY',
    `another leap is under way on this machine (its worker is pid ${lock.owner})`,
    {
      hint: 'wait until it ends (kernel-leap status shows it), then run this again',
      exit: ExitCode.noGo,
    },
  );
}

/**
 * Before a new leap touches anything: no leap is under way, and for an upgrade no
 * dumped run waits for its boot (a new one would replace that boot's restore).
 */
export function assertMachineFree(stateDir: string, mode: 'upgrade' | 'rehearse'): void {
  takeLeapLock(stateDir)();
  const pending = mode === 'upgrade' ? pendingRuns(stateDir) : [];
  if (pending.length === 0) return;
  throw new LeapError(
    'LEAP_PENDING',
    `run ${pending.join(', ')} is dumped and waits for the next boot to restore it`,
    {
      hint: 'finish it first: `kexec -e` jumps to the kernel it loaded and restores it there (so does any other boot, on the kernel that boots); then run this again',
      exit: ExitCode.noGo,
    },
  );
}
