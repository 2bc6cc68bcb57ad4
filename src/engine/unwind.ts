/**
 * Undoing a run on the old kernel, and ending it with an outcome: the launcher
 * shell in the session waits for that outcome, so every path writes one.
 */
import { rmSync } from 'node:fs';

import { isLeapError } from '../errors.js';
import { type Journal } from '../state/journal.js';
import type { Endpoint } from '../state/manifest.js';
import { type Outcome, writeOutcome } from '../state/outcome.js';
import { clearPending } from '../state/pending.js';
import { releaseReserve } from '../state/reserve.js';
import { keepSessionRunning } from '../steps/checkpoint/dump.js';
import { unloadTargetKernel } from '../steps/checkpoint/kexec.js';
import { removeBootArtefacts } from '../steps/restore/cleanup.js';
import type { EngineContext } from './context.js';

/** A run to resume on this kernel: its journal and what its plan recorded of the tree. */
export interface ResumableRun {
  journal: Journal;
  plan: {
    pids: readonly number[];
    connections: ReadonlyArray<{ local: Endpoint; peer: Endpoint }>;
  };
}

/**
 * A failed load, prepare or dump: these sessions keep running, their images go.
 * With nothing dumped the next boot is normal; otherwise the boot units and the
 * loaded kernel stay for the sessions that were.
 */
export async function unwind(
  ctx: EngineContext,
  resume: readonly ResumableRun[],
  dumped: readonly unknown[],
): Promise<void> {
  for (const { journal } of resume) releaseReserve(journal.paths.dir);
  for (const { journal, plan } of resume) {
    await keepSessionRunning({
      runner: ctx.runner,
      journal,
      pids: plan.pids,
      connections: plan.connections,
    });
    rmSync(journal.paths.images, { recursive: true, force: true });
  }
  if (dumped.length > 0) return;
  clearPending(ctx.config.paths.state_dir);
  await unloadKernelOf(ctx, resume);
  // Whatever prepare got to, even a failed one: enabled units would run at the next boot.
  for (const { journal } of resume)
    await removeBootArtefacts({
      runner: ctx.runner,
      host: ctx.host,
      stateDir: ctx.config.paths.state_dir,
      journal,
    });
}

/** The outcome file is the one record of how a run ended: the launcher, `status` and the report read it. */
export function finish(journal: Journal, outcome: Outcome, code: number): number {
  writeOutcome(journal.paths.dir, outcome);
  return code;
}

export function finishAll(journals: readonly Journal[], outcome: Outcome, code: number): number {
  for (const journal of journals) finish(journal, outcome, code);
  return code;
}

/** A kernel left loaded is harmless until someone runs `kexec -e`; a failed unload is journaled, and the cleanup goes on. */
async function unloadKernelOf(ctx: EngineContext, runs: readonly ResumableRun[]): Promise<void> {
  try {
    await unloadTargetKernel(ctx.runner, ctx.host);
  } catch (error) {
    if (!isLeapError(error)) throw error;
    for (const { journal } of runs)
      journal.recordChange(
        'kexec-unload-failed',
        'kexec -u',
        `${error.message}; unload it by hand with kexec -u`,
      );
  }
}
