import { Journal, runPaths } from '../../engine/journal.js';
import { tryLock } from '../../engine/lock.js';
import { step } from '../../engine/step.js';
import { ExitCode, isLeapError } from '../../errors.js';
import { buildReport, readOutcome, writeReport } from '../../phases/report.js';
import { spooledRuns, uploadRun } from '../../phases/upload.js';
import type { Command, CommandContext } from '../command.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ExecaRunner } from '../../tools/runner.js';

export const uploadLogsCommand: Command = {
  name: 'upload-logs',
  summary: 'ship the spooled logs of runs to S3',
  usage: 'upload-logs [--run ID]',
  options: { run: { type: 'string' } },
  optionHelp: ['--run ID         only this run (default: every spooled run)'],
  async run(ctx, values) {
    const stateDir = ctx.config.paths.state_dir;
    const runs = typeof values.run === 'string' ? [values.run] : spooledRuns(stateDir);
    let failed = 0;
    for (const runId of runs) if (!(await shipRun(ctx, runId))) failed++;
    ctx.out.result({ runs, failed }, () => (runs.length === 0 ? 'nothing spooled' : `${runs.length - failed} of ${runs.length} runs shipped`));
    return failed === 0 ? ExitCode.ok : ExitCode.failure;
  },
};

/**
 * Writes report.json and dmesg.txt, then uploads; a failure spools the run and
 * returns false. One shipper per run: `upload-logs` typed while the restore unit
 * ships would otherwise race it, and the later journal write would drop the other's.
 */
export async function shipRun(ctx: CommandContext, runId: string): Promise<boolean> {
  const lock = tryLock(join(runPaths(ctx.config.paths.state_dir, runId).dir, 'upload.lock'));
  if (!lock.held) {
    ctx.out.progress({ phase: 'upload', state: 'info', message: `run ${runId} is being shipped by pid ${lock.owner}` });
    return true;
  }
  try {
    return await shipLocked(ctx, Journal.open(ctx.config.paths.state_dir, runId));
  } finally {
    lock.release();
  }
}

async function shipLocked(ctx: CommandContext, journal: Journal): Promise<boolean> {
  writeReport(journal.paths.dir, buildReport(journal.snapshot, readOutcome(journal.paths.dir)));
  const dmesg = await ctx.runner.run({ file: 'dmesg', timeoutMs: 30_000 }).catch(() => undefined);
  if (dmesg) writeFileSync(join(journal.paths.logs, 'dmesg.txt'), dmesg.stdout, { mode: 0o600 });
  if (journal.phase('upload').status === 'done') {
    ctx.out.progress({ phase: 'upload', state: 'info', message: `run ${journal.runId} was already uploaded` });
    return true;
  }
  (ctx.runner as ExecaRunner).logFile = journal.paths.commandLog;
  try {
    const result = await step({ journal, out: ctx.out }, 'upload', () => uploadRun(ctx.config, journal), (r) => ({ ...r }));
    if (result.skipped) ctx.out.progress({ phase: 'upload', state: 'info', message: result.skipped });
    return true;
  } catch (error) {
    if (!isLeapError(error)) throw error;
    ctx.out.error({ code: error.code, message: error.message, hint: error.hint });
    return false;
  }
}
