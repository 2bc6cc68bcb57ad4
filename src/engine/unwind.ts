/**
 * Undoing a run on the old kernel, and ending it with an outcome: the launcher
 * shell in the session waits for that outcome, so every path writes one.
 */
import { rmSync } from 'node:fs';
import { type Journal } from '../state/journal.js';
import { type Outcome, writeOutcome } from '../state/outcome.js';
import { clearPending } from '../state/pending.js';
import { removeArtefacts } from '../steps/cleanup.js';
import { keepSessionRunning } from '../steps/dump.js';
import { unloadTargetKernel } from '../steps/kexec.js';
import type { SessionPlan } from '../steps/planning.js';
import type { EngineContext } from './context.js';

/** A run to resume on this kernel: its journal and what its plan recorded of the tree. */
export interface ResumableRun {
  journal: Journal;
  plan: Pick<SessionPlan, 'pids' | 'connections'>;
}

/**
 * A failed load, prepare or dump: these sessions keep running, their images go.
 * With nothing dumped the next boot is normal; otherwise the boot units and the
 * loaded kernel stay for the sessions that were.
 */
export async function unwind(ctx: EngineContext, resume: readonly ResumableRun[], dumped: readonly unknown[]): Promise<void> {
  for (const { journal, plan } of resume) {
    await keepSessionRunning({ runner: ctx.runner, journal, pids: plan.pids, connections: plan.connections });
    rmSync(journal.paths.images, { recursive: true, force: true });
  }
  if (dumped.length > 0) return;
  clearPending(ctx.config.paths.state_dir);
  await unloadTargetKernel(ctx.runner, ctx.host).catch(() => undefined);
  for (const { journal } of resume) await removeArtefacts(ctx.runner, journal, (journal.phase('prepare').outputs?.units as string[] | undefined) ?? []);
}

export function finish(journal: Journal, outcome: Outcome, code: number): number {
  journal.mark(`outcome.${outcome}`);
  writeOutcome(journal.paths.dir, outcome);
  return code;
}

export function finishAll(journals: readonly Journal[], outcome: Outcome, code: number): number {
  for (const journal of journals) finish(journal, outcome, code);
  return code;
}
