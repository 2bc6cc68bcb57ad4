/**
 * Shipping a run's logs: report.json and dmesg.txt are written, then everything
 * goes to S3. A failure spools the run for `upload-logs` to ship later.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { isLeapError } from '../errors.js';
import { Journal, runPaths } from '../state/journal.js';
import { tryLock } from '../state/lock.js';
import { isFinal, readOutcome } from '../state/outcome.js';
import { removeImages, runIds } from '../state/runs.js';
import { buildReport, writeReport } from '../steps/report/report.js';
import { uploadRun } from '../steps/report/upload.js';
import type { EngineContext } from './context.js';
import { stepInRun } from './step.js';

/**
 * False when the upload failed and the run stays spooled. One shipper per run:
 * `upload-logs` typed while the restore unit ships would otherwise race it, and
 * the later journal write would drop the other's.
 */
export async function shipRun(ctx: EngineContext, runId: string): Promise<boolean> {
  const lock = tryLock(join(runPaths(ctx.config.paths.state_dir, runId).dir, 'upload.lock'));
  if (!lock.held) {
    ctx.out.progress({
      phase: 'upload',
      state: 'info',
      message: `run ${runId} is being shipped by pid ${lock.owner}`,
    });
    return true;
  }
  try {
    return await shipLocked(ctx, Journal.open(ctx.config.paths.state_dir, runId));
  } finally {
    lock.release();
  }
}

/**
 * The runs that ended and were never shipped. A session of an --all-ssh leap that
 * ended before its dump is finished `aborted`, and the worker that would ship it
 * after the leap jumps instead: `runs --wait` (the Ansible role's) then waited for
 * it forever. The boot's restore ships these after its own runs.
 */
export function leftUnshipped(stateDir: string): string[] {
  // Only the outcome and the report: listRuns would also walk every run's images at boot.
  return runIds(stateDir).filter((runId) => {
    const { dir } = runPaths(stateDir, runId);
    return isFinal(readOutcome(dir)) && !existsSync(join(dir, 'report.json'));
  });
}

/**
 * A run that ends on this boot (no-go, rehearsed, dump failed) ships its logs now,
 * after the outcome has given the session back; a dumped one ships after the restore.
 */
export async function shipIfEnded(ctx: EngineContext, runId: string): Promise<void> {
  const { dir } = runPaths(ctx.config.paths.state_dir, runId);
  const outcome = existsSync(dir) ? readOutcome(dir) : undefined;
  if (outcome === undefined || outcome === 'dumped') return;
  await shipRun(ctx, runId);
}

async function shipLocked(ctx: EngineContext, journal: Journal): Promise<boolean> {
  writeReport(journal.paths.dir, buildReport(journal.snapshot, readOutcome(journal.paths.dir)));
  const dmesg = await ctx.runner
    .loggingTo(journal.paths.commandLog)
    .run({ file: 'dmesg', timeoutMs: 30_000 })
    .catch(() => undefined);
  if (dmesg) writeFileSync(join(journal.paths.logs, 'dmesg.txt'), dmesg.stdout, { mode: 0o600 });
  // Before the upload: a store that refuses it (a 403, a full bucket) must not keep the memory images forever.
  dropRestoredImages(ctx, journal);
  if (journal.phase('upload').status === 'done') {
    ctx.out.progress({
      phase: 'upload',
      state: 'info',
      message: `run ${journal.runId} was already uploaded`,
    });
    return true;
  }
  try {
    const result = await stepInRun(
      ctx,
      journal,
      'upload',
      () => uploadRun(ctx.config, journal),
      (r) => r,
    );
    if (result.skipped)
      ctx.out.progress({ phase: 'upload', state: 'info', message: result.skipped });
    return true;
  } catch (error) {
    if (!isLeapError(error)) throw error;
    ctx.out.error({ code: error.code, message: error.message, hint: error.hint });
    return false;
  }
}

/** The default retention: a restored session lives on its own, and its images (its memory, at the dump) only take room. */
function dropRestoredImages(ctx: EngineContext, journal: Journal): void {
  if (ctx.config.paths.keep_images || readOutcome(journal.paths.dir) !== 'restored') return;
  const freed = removeImages(ctx.config.paths.state_dir, journal.runId);
  if (freed > 0)
    journal.recordChange(
      'images-removed',
      journal.paths.images,
      `${freed} bytes; [paths] keep_images = true keeps them`,
    );
}
