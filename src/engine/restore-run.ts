/**
 * The boot-time restore as a whole: consume the pending mark, restore each run's
 * session and write the outcome its launcher waits for, then, whatever happened,
 * clean up the boot artefacts; the slow, non-critical work (report, upload) comes last.
 */
import { readFileSync } from 'node:fs';
import { release } from 'node:os';
import { ExitCode } from '../errors.js';
import { removeArtefacts } from '../steps/cleanup.js';
import { readManifest } from '../state/manifest.js';
import { restoreSession } from '../steps/restore.js';
import { writeOutcome } from '../state/outcome.js';
import type { EngineContext } from './context.js';
import { Journal } from '../state/journal.js';
import { consumePending } from '../state/pending.js';
import { stepInRun } from './step.js';

export interface RestoreRunOptions {
  runId: string | undefined;
  boot: boolean;
}

export async function runRestore(ctx: EngineContext, options: RestoreRunOptions): Promise<{ code: number; journals: Journal[] }> {
  const stateDir = ctx.config.paths.state_dir;
  // At boot the mark goes first: from here on, no later boot can run these again.
  const runIds = options.boot ? consumePending(stateDir) : [options.runId];
  const journals = runIds.map((runId) => Journal.open(stateDir, runId));
  let code: number = ExitCode.ok;
  // Every session first: the cleanup removes the units and rules they share.
  for (const journal of journals) if ((await restoreRun(ctx, journal)) !== ExitCode.ok) code = ExitCode.restoreFailed;
  // The runs install the same units: disable them and reload systemd once, not once per run.
  const disabled = new Set<string>();
  for (const journal of journals) {
    if (journal.phase('cleanup').status !== 'pending') continue;
    const units = readManifest(journal.paths.dir).units.filter((unit) => !disabled.has(unit));
    for (const unit of units) disabled.add(unit);
    await stepInRun(ctx, journal, 'cleanup', () => removeArtefacts(ctx.runner, journal, units), (r) => ({ ...r }));
  }
  return { code, journals };
}

/** Restores one run's session and writes the outcome its launcher waits for. */
async function restoreRun(ctx: EngineContext, journal: Journal): Promise<number> {
  journal.mark('restoreUnitStart');
  journal.mark('kernelBoot', bootInstant());
  // The jump left the kexec phase running; that we run at all on the new kernel closes it.
  if (journal.phase('kexec').status === 'running') journal.finish('kexec', { bootedKernel: release() });
  try {
    await stepInRun(ctx, journal, 'restore', () => restoreSession(ctx.runner, journal, ctx.host), (r) => ({ ...r }));
    writeOutcome(journal.paths.dir, 'restored');
    return ExitCode.ok;
  } catch (error) {
    writeOutcome(journal.paths.dir, 'failed');
    ctx.out.error({ code: 'RESTORE_FAILED', message: `run ${journal.runId}: ${error instanceof Error ? error.message : String(error)}`, hint: 'the images are kept in the run dir for a post-mortem; `kernel-leap report` shows the timeline' });
    return ExitCode.restoreFailed;
  }
}

/** The wall-clock instant this kernel started, from /proc/uptime. */
export function bootInstant(): Date {
  const uptime = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
  return new Date(Date.now() - uptime * 1000);
}
