/**
 * The pending mark: `<state>/pending` names the run the next boot restores. The
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

export function markPending(stateDir: string, runId: string): void {
  writeFileAtomic(pendingPath(stateDir), `${runId}\n`);
}

export function clearPending(stateDir: string): void {
  rmSync(pendingPath(stateDir), { force: true });
  if (existsSync(stateDir)) fsyncDir(stateDir);
}

/** The run the next boot restores, if any. */
export function pendingRun(stateDir: string): string | undefined {
  const path = pendingPath(stateDir);
  return existsSync(path) ? readFileSync(path, 'utf8').trim() : undefined;
}

/** Reads and removes the mark in one step. */
export function consumePending(stateDir: string): string {
  const path = pendingPath(stateDir);
  if (!existsSync(path)) {
    throw new LeapError('NOTHING_PENDING', `no run is pending a restore (${path} is absent)`, { hint: 'pass --run ID to restore a given run by hand', exit: ExitCode.usage });
  }
  const runId = pendingRun(stateDir) ?? '';
  clearPending(stateDir);
  return runId;
}
