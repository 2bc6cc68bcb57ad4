/**
 * The pending mark: `<state>/pending` names the runs the next boot restores, one
 * a line (`upgrade --all-ssh` dumps one run per session). The
 * boot unit's ConditionPathExists= points at it, and restore consumes it before
 * doing anything else, so a failed restore can never run again at the next boot.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ExitCode, LeapError } from '../errors.js';
import { fsyncDir, writeFileAtomic } from './atomic.js';

export function pendingPath(stateDir: string): string {
  return join(stateDir, 'pending');
}

export function markPending(stateDir: string, runIds: readonly string[]): void {
  writeFileAtomic(pendingPath(stateDir), runIds.map((id) => `${id}\n`).join(''));
}

export function clearPending(stateDir: string): void {
  rmSync(pendingPath(stateDir), { force: true });
  if (existsSync(stateDir)) fsyncDir(stateDir);
}

/** The runs the next boot restores, if any. */
export function pendingRuns(stateDir: string): string[] {
  const path = pendingPath(stateDir);
  return existsSync(path) ? readFileSync(path, 'utf8').split('\n').map((line) => line.trim()).filter(Boolean) : [];
}

/** Reads and removes the mark in one step. */
export function consumePending(stateDir: string): string[] {
  const path = pendingPath(stateDir);
  if (!existsSync(path)) {
    throw new LeapError('NOTHING_PENDING', `no run is pending a restore (${path} is absent)`, { hint: 'pass --run ID to restore a given run by hand', exit: ExitCode.usage });
  }
  const runIds = pendingRuns(stateDir);
  clearPending(stateDir);
  return runIds;
}
