/**
 * The pending mark: `<state>/pending` names the runs the next boot restores, one
 * a line (`upgrade --all-ssh` dumps one run per session). The restore at boot
 * turns it into `<state>/restoring` before doing anything else, so a failed
 * restore can never run again at the next boot, and removes that once the boot
 * is cleaned up. The boot unit runs while either exists: after a restore cut
 * short (a power cut, the unit killed), the next boot settles those runs.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

import { ExitCode, LeapError } from '../errors.js';
import { fsyncDir, writeFileAtomic } from './atomic.js';

export function pendingPath(stateDir: string): string {
  return join(stateDir, 'pending');
}

export function restoringPath(stateDir: string): string {
  return join(stateDir, 'restoring');
}

/** The boot that took the restoring list, when restore-boot.sh took it before Node started. */
export function takenByPath(stateDir: string): string {
  return `${restoringPath(stateDir)}.boot`;
}

export function markPending(stateDir: string, runIds: readonly string[]): void {
  writeFileAtomic(pendingPath(stateDir), runIds.map((id) => `${id}\n`).join(''));
}

export function clearPending(stateDir: string): void {
  rmSync(pendingPath(stateDir), { force: true });
  if (existsSync(stateDir)) fsyncDir(stateDir);
}

/**
 * A run restored by hand leaves the pending list first, as a boot's restore takes
 * it, so no later boot restores it again; returns the runs still pending.
 */
export function takeOutOfPending(stateDir: string, runId: string): string[] {
  const rest = pendingRuns(stateDir).filter((id) => id !== runId);
  if (rest.length === 0) clearPending(stateDir);
  else markPending(stateDir, rest);
  return rest;
}

/** The runs the next boot restores, if any. */
export function pendingRuns(stateDir: string): string[] {
  return readRunList(pendingPath(stateDir));
}

export interface BootRuns {
  /** Pending until now: this boot restores them. */
  fresh: string[];
  /** An earlier boot started them and was cut short: settled, never restored again at boot. */
  cutShort: string[];
}

/**
 * Moves the pending runs to the restoring list, in that order, so no crash can lose
 * or repeat one. A list that this boot's restore-boot.sh took (its boot id beside
 * it) holds fresh runs; any other was an earlier boot's, cut short.
 */
export function takePending(stateDir: string, bootId: string): BootRuns {
  const pending = pendingPath(stateDir);
  const restoring = restoringPath(stateDir);
  if (!existsSync(pending) && !existsSync(restoring)) {
    throw new LeapError('NOTHING_PENDING', `no run is pending a restore (${pending} is absent)`, {
      hint: 'pass --run ID to restore a given run by hand',
      exit: ExitCode.usage,
    });
  }
  const takenNow = readRunList(takenByPath(stateDir))[0] === bootId;
  const listed = readRunList(restoring);
  const cutShort = takenNow ? [] : listed;
  const fresh = [
    ...(takenNow ? listed : []),
    ...pendingRuns(stateDir).filter((id) => !listed.includes(id)),
  ];
  writeFileAtomic(restoring, [...cutShort, ...fresh].map((id) => `${id}\n`).join(''));
  clearPending(stateDir);
  return { fresh, cutShort };
}

/** The boot's restore and cleanup are over: the next boot has nothing to settle. */
export function doneRestoring(stateDir: string): void {
  rmSync(restoringPath(stateDir), { force: true });
  rmSync(takenByPath(stateDir), { force: true });
  fsyncDir(stateDir);
}

function readRunList(path: string): string[] {
  return existsSync(path)
    ? readFileSync(path, 'utf8')
        .split('\n')
        .map((line) => line.trim())
        .filter(Boolean)
    : [];
}
