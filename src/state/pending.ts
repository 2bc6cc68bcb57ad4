/**
 * The pending mark: `<state>/pending` names the runs the next boot restores, one
 * a line (`upgrade --all-ssh` dumps one run per session). At boot, before
 * anything is restored, the take (templates/take-pending.sh.hbs, the one
 * implementation of it) moves them to `<state>/restoring`, so a failed restore
 * can never run again at the next boot, and names the boot and the runs it took
 * in `<state>/restoring.boot`; Node's restore only reads what it left (bootRuns),
 * and removes both once the boot is cleaned up. The boot unit runs while either
 * list exists: after a restore cut short (a power cut, the unit killed), the next
 * boot settles those runs.
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

/** The boot that took runs of the restoring list (its id, the first line), and those runs. */
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
  /** Pending until this boot took them: this boot restores them. */
  fresh: string[];
  /** An earlier boot took them and was cut short: settled, never restored again at boot. */
  cutShort: string[];
}

/**
 * The restoring list as the take left it, split by the boot that took each run:
 * those restoring.boot names beside this boot's id are fresh, the rest an earlier
 * boot's, cut short. Reads only, after the take (src/steps/restore/take.ts): with
 * no list, nothing was pending.
 */
export function bootRuns(stateDir: string, bootId: string): BootRuns {
  const restoring = restoringPath(stateDir);
  if (!existsSync(restoring)) {
    throw new LeapError(
      'NOTHING_PENDING',
      `no run is pending a restore (neither ${pendingPath(stateDir)} nor ${restoring} exists)`,
      { hint: 'pass --run ID to restore a given run by hand', exit: ExitCode.usage },
    );
  }
  const [takenBy, ...taken] = readRunList(takenByPath(stateDir));
  const thisBoot = takenBy === bootId ? taken : [];
  const listed = readRunList(restoring);
  return {
    fresh: listed.filter((id) => thisBoot.includes(id)),
    cutShort: listed.filter((id) => !thisBoot.includes(id)),
  };
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
