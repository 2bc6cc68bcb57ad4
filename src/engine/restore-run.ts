/**
 * The boot-time restore as a whole: consume the pending mark, restore, and then,
 * whatever happened, clean up the boot artefacts, write the outcome the launcher
 * waits for, and only then do the slow, non-critical work (report, upload).
 */
import { readFileSync } from 'node:fs';
import { release } from 'node:os';
import type { Output } from '../cli/output.js';
import type { Config } from '../config/schema.js';
import { ExitCode } from '../errors.js';
import { removeArtefacts } from '../phases/cleanup.js';
import { readManifest } from '../phases/manifest.js';
import { restoreSession, writeOutcome } from '../phases/restore.js';
import type { Runner } from '../tools/runner.js';
import { Journal } from './journal.js';
import { consumePending } from './pending.js';
import { step } from './step.js';

export interface RestoreRunOptions {
  runId: string | undefined;
  boot: boolean;
}

export interface RestoreRunContext {
  runner: Runner & { logFile?: string };
  config: Config;
  out: Output;
}

export async function runRestore(ctx: RestoreRunContext, options: RestoreRunOptions): Promise<{ code: number; journal: Journal }> {
  const stateDir = ctx.config.paths.state_dir;
  // At boot the mark goes first: from here on, no later boot can run this again.
  const runId = options.boot ? consumePending(stateDir) : options.runId;
  const journal = Journal.open(stateDir, runId);
  ctx.runner.logFile = journal.paths.commandLog;
  journal.mark('restoreUnitStart');
  journal.mark('kernelBoot', bootInstant());
  // The jump left the kexec phase running; that we run at all on the new kernel closes it.
  if (journal.phase('kexec').status === 'running') journal.finish('kexec', { bootedKernel: release() });
  const s = { journal, out: ctx.out };
  let code: number = ExitCode.ok;
  try {
    await step(s, 'restore', () => restoreSession(ctx.runner, journal), (r) => ({ ...r }));
    writeOutcome(journal.paths.dir, 'restored');
  } catch (error) {
    code = ExitCode.restoreFailed;
    writeOutcome(journal.paths.dir, 'failed');
    ctx.out.error({ code: 'RESTORE_FAILED', message: error instanceof Error ? error.message : String(error), hint: 'the images are kept in the run dir for a post-mortem; `kernel-leap report` shows the timeline' });
  }
  if (journal.phase('cleanup').status === 'pending') {
    await step(s, 'cleanup', () => removeArtefacts(ctx.runner, journal, readManifest(journal.paths.dir).units), (r) => ({ ...r }));
  }
  return { code, journal };
}

/** The wall-clock instant this kernel started, from /proc/uptime. */
export function bootInstant(): Date {
  const uptime = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
  return new Date(Date.now() - uptime * 1000);
}
