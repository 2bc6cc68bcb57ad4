/**
 * The runs under `<state>/runs/` as data to manage: what each is, how much its
 * images take, and which images nothing needs any more. Images of a run that may
 * still be restored (pending, dumped, in progress) are never pruned, and those of
 * a failed restore or an interrupted run only when asked: they are its post-mortem,
 * or its restore by hand.
 */
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { heldFilesDir } from './held-files.js';
import { parseJournalFile, type RunPaths, runPaths } from './journal.js';
import { isFinal, readOutcome } from './outcome.js';
import { pendingRuns } from './pending.js';

export interface RunSummary {
  runId: string;
  createdAt: string | undefined;
  command: string | undefined;
  outcome: string;
  imagesBytes: number;
  pending: boolean;
}

/** Every run's id, oldest first. */
export function runIds(stateDir: string): string[] {
  const dir = join(stateDir, 'runs');
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}

export function listRuns(stateDir: string): RunSummary[] {
  const pending = new Set(pendingRuns(stateDir));
  return runIds(stateDir).map((runId) => {
    const paths = runPaths(stateDir, runId);
    const journal = parseJournalFile(paths.journal);
    return {
      runId,
      createdAt: journal?.createdAt,
      command: journal?.command,
      outcome: readOutcome(paths.dir) ?? (journal ? 'in progress' : 'unreadable'),
      imagesBytes: imageDirs(paths).reduce((total, dir) => total + treeBytes(dir), 0),
      pending: pending.has(runId),
    };
  });
}

/** Outcomes whose images are kept until asked: a failed restore's post-mortem, an interrupted run's restore by hand. */
const KEPT = new Set(['failed', 'interrupted']);

/** The runs whose images can go: final and not pending; failed and interrupted ones only when asked. */
export function prunable(runs: readonly RunSummary[], keptToo: boolean): RunSummary[] {
  return runs.filter(
    (r) =>
      !r.pending && r.imagesBytes > 0 && isFinal(r.outcome) && (keptToo || !KEPT.has(r.outcome)),
  );
}

/**
 * Removes a run's images, a rehearsal's left by a killed worker too, and the
 * copies of the files its tree held that the boot clears (they are of the images'
 * kind: what the restore needs, nothing after it); keeps its journal, logs and
 * report; returns the bytes freed.
 */
export function removeImages(stateDir: string, runId: string): number {
  return imageDirs(runPaths(stateDir, runId)).reduce((total, dir) => {
    const bytes = treeBytes(dir);
    rmSync(dir, { recursive: true, force: true });
    return total + bytes;
  }, 0);
}

function imageDirs(paths: RunPaths): string[] {
  return [paths.images, paths.rehearsal, heldFilesDir(paths.dir)];
}

function treeBytes(path: string): number {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.size;
  return readdirSync(path).reduce((total, name) => total + treeBytes(join(path, name)), 0);
}
