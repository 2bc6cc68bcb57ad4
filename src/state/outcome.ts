/**
 * A run's outcome: `<run>/outcome`, one word. The launcher shell in the session
 * (root's, like the command) waits for this file, so it is written last and atomically.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

import { writeFileAtomic } from './atomic.js';

/**
 * `aborted`: the worker stopped on the old kernel before it could hand the run to the next boot.
 * `interrupted`: a boot that was not the leap's (a power cut) came first; the images wait for a restore by hand.
 */
export type Outcome =
  | 'restored'
  | 'failed'
  | 'dump-failed'
  | 'aborted'
  | 'no-go'
  | 'rehearsed'
  | 'dumped'
  | 'interrupted';

export const OUTCOME_FILE = 'outcome';

export function outcomePath(runDir: string): string {
  return join(runDir, OUTCOME_FILE);
}

export function writeOutcome(runDir: string, outcome: Outcome): void {
  writeFileAtomic(outcomePath(runDir), `${outcome}\n`);
}

export function clearOutcome(runDir: string): void {
  rmSync(outcomePath(runDir), { force: true });
}

export function readOutcome(runDir: string): string | undefined {
  const file = outcomePath(runDir);
  return existsSync(file) ? readFileSync(file, 'utf8').trim() : undefined;
}
