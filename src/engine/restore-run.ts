/**
 * The boot-time restore as a whole: read the runs taken for this boot, settle those of an
 * earlier boot's restore that a power cut or a kill cut short, restore each run's
 * session and write the outcome its launcher waits for, then, whatever happened,
 * clean up the boot artefacts; the slow, non-critical work (report, upload) comes last.
 */
import { readFileSync } from 'node:fs';
import { release } from 'node:os';

import { ExitCode, isLeapError, LeapError } from '../errors.js';
import { Journal } from '../state/journal.js';
import { holdsTerminals, readManifest } from '../state/manifest.js';
import { clearOutcome, readOutcome, writeOutcome } from '../state/outcome.js';
import { type BootRuns, bootRuns, doneRestoring, takeOutOfPending } from '../state/pending.js';
import { BOOT_SCRIPT, readRestoreRecord, type RestoreRecord } from '../state/restore-record.js';
import { removeBootArtefacts } from '../steps/restore/cleanup.js';
import { restoreSession, unlockFailedRestore } from '../steps/restore/restore.js';
import { resumeTrees } from '../steps/restore/resume.js';
import { takeStillPending } from '../steps/restore/take.js';
import { leapOfBoot } from '../tools/kexec.js';
import { bootId as readBootId } from '../tools/procfs.js';
import type { EngineContext } from './context.js';
import { stepInRun } from './step.js';

export interface RestoreRunOptions {
  runId: string | undefined;
  boot: boolean;
}

export async function runRestore(
  ctx: EngineContext,
  options: RestoreRunOptions,
): Promise<{ code: number; journals: Journal[] }> {
  const stateDir = ctx.config.paths.state_dir;
  // At boot, its id tells what restore-boot.sh took and did on this boot from what an earlier boot left.
  const bootId = options.boot ? readBootId(ctx.host.procBootId) : undefined;
  const { fresh, cutShort } =
    bootId !== undefined
      ? await takenForBoot(ctx, bootId)
      : { fresh: [options.runId], cutShort: [] };
  // By hand, the runs still pending keep the boot units, rules and hook they share for their boot.
  const stillPending =
    options.runId !== undefined && !options.boot ? takeOutOfPending(stateDir, options.runId) : [];
  const journals: Journal[] = [];
  let code: number = ExitCode.ok;
  try {
    for (const runId of cutShort) {
      const journal = openForRestore(ctx, stateDir, runId, true);
      if (journal) journals.push(journal);
      if (journal && unfinished(journal, 'restore')) keepForRestoreByHand(ctx, journal, CUT_SHORT);
    }
    // Every session first: the cleanup removes the units and rules they share.
    const opened = fresh.map((runId) => openForRestore(ctx, stateDir, runId, options.boot));
    const ptys = new Map<number, number>();
    for (const journal of holdersLast(opened)) {
      if (journal) journals.push(journal);
      if (
        !journal ||
        (await restoreRun(
          ctx,
          journal,
          ptys,
          bootId === undefined
            ? undefined
            : readRestoreRecord(journal.paths.dir, BOOT_SCRIPT, bootId),
        )) !== ExitCode.ok
      )
        code = ExitCode.restoreFailed;
      else for (const [dumped, now] of restoredPtys(journal)) ptys.set(dumped, now);
    }
  } finally {
    // Every run is restored (or failed), each tree stopped: they run again only now, all of them.
    if (!(await resumeRestored(ctx, journals))) code = ExitCode.restoreFailed;
    // A cleanup that a kill cut short is run again from the start.
    for (const journal of journals) {
      if (unfinished(journal, 'cleanup') && stillPending.length > 0)
        leaveBootToPending(journal, stillPending);
      else if (unfinished(journal, 'cleanup'))
        await stepInRun(
          ctx,
          journal,
          'cleanup',
          (runner) => removeBootArtefacts({ ...cleanupOf(ctx, options.boot), runner, journal }),
          (r) => r,
        );
    }
    // What no readable journal named is still the boot's: a unit left enabled would run at every boot.
    if (options.boot) {
      await removeBootArtefacts({ ...cleanupOf(ctx, true), journal: undefined });
      doneRestoring(stateDir);
    }
  }
  return { code, journals };
}

/**
 * The runs this boot restores, and those an earlier boot was cut short on. The
 * take has made them the restoring list before anything is restored (from there
 * on, no later boot restores them again): restore-boot.sh's, or, should they
 * still be pending, the same take run now.
 */
async function takenForBoot(ctx: EngineContext, bootId: string): Promise<BootRuns> {
  const stateDir = ctx.config.paths.state_dir;
  await takeStillPending(ctx.runner, stateDir, ctx.host);
  return bootRuns(stateDir, bootId);
}

/**
 * Resumes the trees of these runs that this boot restored and left stopped (by
 * restore-boot.sh already, when its own restores did them all), and marks when
 * each session was back. A failure is told, not thrown over the restore's own
 * outcome: the unit's ExecStopPost= tries again at boot.
 */
async function resumeRestored(ctx: EngineContext, journals: readonly Journal[]): Promise<boolean> {
  if (journals.length === 0) return true;
  try {
    const resumed = await resumeTrees(
      ctx.runner,
      ctx.config.paths.state_dir,
      ctx.host,
      journals.map((j) => j.runId),
    );
    for (const journal of journals) {
      const r = resumed.get(journal.runId);
      if (!r) continue;
      journal.mark('resumed', r.at);
      if (r.kept.length > 0)
        journal.recordChange(
          'kept-stopped',
          'restored tree',
          `pids ${r.kept.join(', ')} (in its namespace) were stopped at the dump: left stopped`,
        );
    }
    return true;
  } catch (error) {
    ctx.out.error({
      code: isLeapError(error) ? error.code : 'RESUME_FAILED',
      message: error instanceof Error ? error.message : String(error),
      hint: isLeapError(error) ? error.hint : undefined,
    });
    return false;
  }
}

/** The cleanup of a run restored by hand is the pending runs' boot: it stays theirs. */
function leaveBootToPending(journal: Journal, pending: readonly string[]): void {
  journal.start('cleanup');
  journal.recordChange(
    'cleanup',
    'boot artefacts',
    `kept for the pending runs ${pending.join(', ')}`,
  );
  journal.finish('cleanup', { removed: [], failed: [] });
}

/** At boot we run inside the restore unit the cleanup removes: no daemon-reload (removeBootArtefacts says why). */
function cleanupOf(ctx: EngineContext, boot: boolean) {
  return {
    runner: ctx.runner,
    host: ctx.host,
    stateDir: ctx.config.paths.state_dir,
    reload: !boot,
  };
}

/** At boot an unreadable run is reported and skipped, so the others and the cleanup still run; by hand it is the command's error. */
function openForRestore(
  ctx: EngineContext,
  stateDir: string,
  runId: string | undefined,
  boot: boolean,
): Journal | undefined {
  try {
    return Journal.open(stateDir, runId);
  } catch (error) {
    if (!boot || !isLeapError(error)) throw error;
    ctx.out.error({
      code: error.code,
      message: `run ${runId ?? '?'}: ${error.message}`,
      hint: error.hint,
    });
    return undefined;
  }
}

/**
 * Whether the kexec that loaded this run's kernel started this boot: both command
 * lines name the same run (the caller's, for every session of an --all-ssh).
 */
function bootedByLeapOf(ctx: EngineContext, journal: Journal): boolean {
  const loaded = leapOfBoot(journal.output('load')?.cmdline ?? '');
  return loaded !== undefined && loaded === leapOfBoot(readFileSync(ctx.host.procCmdline, 'utf8'));
}

/**
 * The jump left the kexec phase running: that we run at all closes it. On the
 * leap's own boot the new kernel is up; on any other (the reboot after a panic,
 * a reset, a power cut) it did not get this far, and the session comes back here.
 */
function closeJump(ctx: EngineContext, journal: Journal): void {
  if (journal.phase('kexec').status !== 'running') return;
  if (bootedByLeapOf(ctx, journal)) {
    journal.finish('kexec', { bootedKernel: release() });
    return;
  }
  jumpDidNotReachRestore(journal, {
    code: 'TARGET_BOOT_FAILED',
    because: `the machine restarted on ${release()} (the new kernel failed to boot, or a reset or power cut came first), and the session is restored there`,
    hint: `the console log of that boot says why; check the kernel and its command line (\`kernel-leap check\`) before the next leap`,
  });
}

/** Why a jump that left its kexec phase running did not reach the restore. */
interface JumpFailure {
  code: string;
  because: string;
  hint?: string;
}

/**
 * The jump did not reach the restore, because of `failure`: its kexec phase, if
 * still running, fails with it (a boot the leap did not start, or a restore at
 * boot cut short before it closed the jump).
 */
function jumpDidNotReachRestore(journal: Journal, failure: JumpFailure): void {
  if (journal.phase('kexec').status !== 'running') return;
  journal.fail('kexec', {
    code: failure.code,
    message: `${journal.output('load')?.to ?? 'the new kernel'} did not boot to the restore: ${failure.because}`,
    hint: failure.hint,
  });
}

/** Why a run's images wait for a restore by hand; its ssh connection ended with the restart. */
interface KeptBecause {
  code: string;
  why: string;
}
const CUT_SHORT: KeptBecause = {
  code: 'RESTORE_CUT_SHORT',
  why: 'the restore at boot was cut short (a power cut, or its unit killed) and the machine restarted',
};

/** Not ended: never started, or cut short by a kill or a restart (a running phase at boot is an earlier boot's). */
function unfinished(journal: Journal, phase: 'restore' | 'cleanup'): boolean {
  return ['pending', 'running'].includes(journal.phase(phase).status);
}

/** Nothing is restored at this boot, the images stay, and the report says how to use them. */
function keepForRestoreByHand(ctx: EngineContext, journal: Journal, because: KeptBecause): void {
  const error = {
    code: because.code,
    message: `not restored at boot: ${because.why}, and the session's ssh connection ended with it`,
    hint: `the session's images are kept in ${journal.paths.images}. \`kernel-leap restore --run ${journal.runId}\` brings its processes back with their connections closed: the shell ends with its connection, and what ran without it (a nohup job) goes on`,
  };
  jumpDidNotReachRestore(journal, {
    code: 'NO_RESTORE_BOOT',
    because: 'the machine restarted first',
  });
  journal.start('restore');
  journal.fail('restore', error);
  writeOutcome(journal.paths.dir, 'interrupted');
  ctx.out.error({
    code: error.code,
    message: `run ${journal.runId}: ${error.message}`,
    hint: error.hint,
  });
}

/** A tree that holds another tree's terminal (an attached tmux server) after the others: its restore opens the terminal theirs made. */
function holdersLast(journals: ReadonlyArray<Journal | undefined>): Array<Journal | undefined> {
  const holds = (j: Journal | undefined) => j !== undefined && holdsTerminals(j.paths.dir);
  return [...journals.filter((j) => !holds(j)), ...journals.filter(holds)];
}

/** Each pty a restored run made again: its index at the dump, and now (a remap moves it). */
function restoredPtys(journal: Journal): Array<[number, number]> {
  const remaps = journal.output('restore')?.ptyRemaps ?? [];
  return readManifest(journal.paths.dir).ptys.map((n) => [
    n,
    remaps.find((r) => r.from === n)?.to ?? n,
  ]);
}

/** Restores one run's session (carrying on from the boot's restore-fast.sh, if it ran) and writes the outcome its launcher waits for. */
async function restoreRun(
  ctx: EngineContext,
  journal: Journal,
  earlierPtys: ReadonlyMap<number, number>,
  boot: RestoreRecord | undefined,
): Promise<number> {
  refuseRestored(journal);
  // Its connections ended with the restart that kept it from being restored at boot.
  const closeConnections = readOutcome(journal.paths.dir) === 'interrupted';
  // A `--no-exec` run says `dumped` until now: the launcher resumed by this restore must wait for the new outcome.
  clearOutcome(journal.paths.dir);
  journal.mark('restoreUnitStart', boot?.marks.get('restoreUnitStart'));
  journal.mark('kernelBoot', bootInstant());
  closeJump(ctx, journal);
  try {
    await stepInRun(
      ctx,
      journal,
      'restore',
      (runner) =>
        restoreSession(runner, journal, ctx.host, { closeConnections, earlierPtys, boot }),
      (r) => r,
    );
    writeOutcome(journal.paths.dir, 'restored');
    return ExitCode.ok;
  } catch (error) {
    await unlockAfterFailure(ctx, journal);
    writeOutcome(journal.paths.dir, 'failed');
    ctx.out.error({
      code: 'RESTORE_FAILED',
      message: `run ${journal.runId}: ${error instanceof Error ? error.message : String(error)}`,
      hint: 'the images are kept in the run dir for a post-mortem; `kernel-leap report` shows the timeline',
    });
    return ExitCode.restoreFailed;
  }
}

/** The run's lock rules go with its failed restore; a failure to remove them is told, not thrown over the restore's own error. */
async function unlockAfterFailure(ctx: EngineContext, journal: Journal): Promise<void> {
  try {
    const removed = await unlockFailedRestore(ctx.runner, journal);
    journal.recordChange('unlock', 'lock rules', `${removed} removed after the failed restore`);
  } catch (error) {
    ctx.out.error({
      code: 'UNLOCK_FAILED',
      message: `run ${journal.runId}: its lock rules could not be removed: ${error instanceof Error ? error.message : String(error)}`,
      hint: 'list them with `iptables-save | grep 0xc114` and delete each with `iptables -D`; the next boot has none',
    });
  }
}

/** The wall-clock instant this kernel started, from /proc/uptime. */
export function bootInstant(): Date {
  const uptime = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
  return new Date(Date.now() - uptime * 1000);
}

/** A restored session lives on its own now: restoring its images again would only fail, and must not say it failed. */
function refuseRestored(journal: Journal): void {
  if (journal.phase('restore').status !== 'done') return;
  throw new LeapError('ALREADY_RESTORED', `run ${journal.runId} was restored already`, {
    hint: `nothing to do; \`kernel-leap report --run ${journal.runId}\` shows how it went`,
    exit: ExitCode.usage,
  });
}
