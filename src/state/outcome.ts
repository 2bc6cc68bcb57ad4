/**
 * A run's outcome: `<run>/outcome`, one word. The launcher shell in the session
 * (root's, like the command) waits for this file, so it is written last and atomically.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

import { writeFileAtomic } from './atomic.js';

/**
 * The outcomes a run ends with, worst first: nothing moves a run on from one of
 * these by itself (`restore --run` may, by hand), and how runs ended together is
 * the worst of theirs.
 * `interrupted`: a boot that was not the leap's (a power cut) came first; the images wait for a restore by hand.
 * `aborted`: the worker stopped on the old kernel before it could hand the run to the next boot.
 */
export const FINAL_OUTCOMES = [
  'failed',
  'interrupted',
  'dump-failed',
  'aborted',
  'no-go',
  'rehearsed',
  'restored',
] as const;
export type FinalOutcome = (typeof FINAL_OUTCOMES)[number];

/** `dumped` is no end: the images wait for the loaded kernel's boot, whose restore writes the final outcome. */
export type Outcome = FinalOutcome | 'dumped';

export function isFinal(outcome: string | undefined): outcome is FinalOutcome {
  return FINAL_OUTCOMES.includes(outcome as FinalOutcome);
}

/** The worst of these outcomes; undefined for none. */
export function worstOutcome(outcomes: readonly FinalOutcome[]): FinalOutcome | undefined {
  return FINAL_OUTCOMES.find((o) => outcomes.includes(o));
}

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
