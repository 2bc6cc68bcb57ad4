/**
 * The upgrade worker. It runs as a transient systemd service, outside the session
 * it dumps (own cgroup, own session), so the freeze never includes the tool.
 * Everything that does not need the images happens before the freeze; after it
 * only the dump, the rule save, the pending mark, sync and the jump.
 */
import { rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';

import { ExitCode, isLeapError, LeapError } from '../errors.js';
import { cancelRequested } from '../state/cancel.js';
import { Journal } from '../state/journal.js';
import { takeLeapLock } from '../state/leap-lock.js';
import { readOutcome } from '../state/outcome.js';
import { markPending, pendingRuns } from '../state/pending.js';
import type { PhaseOutput } from '../state/phase-outputs.js';
import { holdReserve, releaseReserve } from '../state/reserve.js';
import { type WorkerOptions, writePreScript } from '../state/worker-input.js';
import { dumpTree } from '../steps/checkpoint/dump.js';
import { armBootFallback } from '../steps/checkpoint/fallback.js';
import { jumpToKernel, type KexecLoadOutput, loadTargetKernel } from '../steps/checkpoint/kexec.js';
import { lockRulesPath, prepareBoot, saveLockRules } from '../steps/checkpoint/prepare.js';
import { rehearseDump } from '../steps/checkpoint/rehearse.js';
import { linkTrees } from '../steps/plan/cross-tree.js';
import { sessionLogin } from '../steps/plan/discover.js';
import { leftBehind } from '../steps/plan/losses.js';
import { planSession, planSummary, type SessionPlan } from '../steps/plan/session-plan.js';
import { SESSION_ENDED_MARK } from '../steps/report/run-results.js';
import { isAlive, pidFromNamespace } from '../tools/proc-tasks.js';
import { liveProc } from '../tools/procfs.js';
import type { Runner } from '../tools/runner.js';
import { becomes, waitForExit } from '../tools/wait.js';
import { carryHeldFiles } from './carry-held.js';
import type { EngineContext } from './context.js';
import { closeFinishedDump, criuReturnedDump, dumpedToImages } from './dumped.js';
import { inDumpOrder, type Leap, leapOf } from './leap.js';
import { shipIfEnded } from './ship.js';
import { stepInRun } from './step.js';
import { finish, finishAll, type ResumableRun, unwind } from './unwind.js';

/** A session whose root is still there: its run, and its root in this pid namespace. */
interface LiveSession {
  journal: Journal;
  rootPid: number;
}

/** One session of the run: its journal, its root in this pid namespace, and its plan. */
interface SessionRun extends LiveSession {
  plan: SessionPlan;
}

/** A session of the leap as the worker is handed it: its run, and its root in the caller's pid namespace. */
interface HandedSession {
  journal: Journal;
  pid: number;
}

/** The worker's runs: the caller's, then the other sessions' of an --all-ssh. */
export function workerRuns(options: Pick<WorkerOptions, 'runId' | 'others'>): Leap<string> {
  return { caller: options.runId, others: options.others.map((o) => o.runId) };
}

/**
 * The worker, then the logs of every run that ended on this boot, the other
 * sessions' of an --all-ssh too: a rehearsal's never reach the restore, which
 * ships the dumped ones.
 */
export async function runWorkerAndShip(
  ctx: EngineContext,
  options: WorkerOptions,
): Promise<number> {
  try {
    return await runWorker(ctx, options);
  } finally {
    for (const runId of inDumpOrder(workerRuns(options))) await shipIfEnded(ctx, runId);
  }
}

export async function runWorker(ctx: EngineContext, options: WorkerOptions): Promise<number> {
  const stateDir = ctx.config.paths.state_dir;
  const sessions: Leap<HandedSession> = {
    others: options.others.map((o) => ({
      journal: Journal.open(stateDir, o.runId),
      pid: o.rootPid,
    })),
    caller: { journal: Journal.open(stateDir, options.runId), pid: options.rootPid },
  };
  const caller = sessions.caller.journal;
  const journals = inDumpOrder(sessions).map((s) => s.journal);
  // What no one phase runs (the jump, an unwind) goes to the caller's run, which names the worker.
  const leapCtx = { ...ctx, runner: ctx.runner.loggingTo(caller.paths.commandLog) };
  ctx.out.mirrorTo(join(caller.paths.dir, 'progress'));
  let releaseLeap: (() => void) | undefined;
  try {
    releaseLeap = takeLeapLock(stateDir);
    for (const journal of journals) holdReserve(journal.paths.dir);
    return await work(leapCtx, sessions, options);
  } catch (error) {
    // The launcher shell in the session waits for an outcome: never leave it without one, even on a full disk.
    for (const journal of journals) releaseReserve(journal.paths.dir);
    keepDumped(ctx, journals);
    for (const journal of journals)
      if (readOutcome(journal.paths.dir) === undefined)
        finish(journal, 'aborted', ExitCode.failure);
    throw error;
  } finally {
    for (const journal of journals) releaseReserve(journal.paths.dir);
    releaseLeap?.();
  }
}

/**
 * A failure after a good dump (the pending mark, sync, a jump that returned) never
 * ends a dumped run as aborted: its images are its session's only copy. It stays
 * pending for the next boot, and `dumped` keeps `prune` off its images.
 */
function keepDumped(ctx: EngineContext, journals: readonly Journal[]): void {
  const dumped = journals.filter(
    (j) => readOutcome(j.paths.dir) === undefined && dumpedToImages(j),
  );
  if (dumped.length === 0) return;
  const stateDir = ctx.config.paths.state_dir;
  const ids = dumped.map((j) => j.runId);
  try {
    markPending(stateDir, [...new Set([...pendingRuns(stateDir), ...ids])]);
  } catch (error) {
    ctx.out.error({
      code: 'PENDING_NOT_MARKED',
      message: `run ${ids.join(', ')} is dumped, but no boot will restore it: ${error instanceof Error ? error.message : String(error)}`,
      hint: `free some space, then \`kernel-leap restore --run ${ids[0]}\` brings its processes back`,
    });
  }
  finishAll(dumped, 'dumped', ExitCode.failure);
  ctx.out.progress({
    phase: 'dump',
    state: 'info',
    message: `run ${ids.join(', ')} is dumped and kept: \`kexec -e\` restores it on the loaded kernel (any other boot restores it on the kernel that boots)`,
  });
}

/** Journaled for a worker that may die after its dump: the settle then knows not to jump. */
export const NO_EXEC_MARK = 'worker.noExec';

/** How long a root criu found gone may take to show as ended: a genuine no-go costs only this. */
const ROOT_EXIT_GRACE_MS = 2000;

async function work(
  ctx: EngineContext,
  sessions: Leap<HandedSession>,
  options: WorkerOptions,
): Promise<number> {
  if (!options.exec) for (const { journal } of inDumpOrder(sessions)) journal.mark(NO_EXEC_MARK);
  const waitPid =
    options.waitPid === undefined ? undefined : hostPid(options.callerPidNs, options.waitPid);
  if (waitPid !== undefined) await waitForExit(waitPid, 30_000);
  const planned = await planRuns(ctx, sessions, options.callerPidNs);
  const cancelled = () => cancelRequested(sessions.caller.journal.paths.dir);
  if (cancelled()) return cancel(ctx, inDumpOrder(planned), false);
  const runs = anyNoGo(planned) ? undefined : await rehearseRuns(ctx, planned, options.rehearse);
  if (!runs)
    return finishAll(
      inDumpOrder(planned)
        .map((r) => r.journal)
        .filter((j) => readOutcome(j.paths.dir) === undefined),
      'no-go',
      ExitCode.noGo,
    );
  const carried = inDumpOrder(runs);
  const live = carried.map((r) => r.journal);
  if (options.mode === 'rehearse') return finishAll(live, 'rehearsed', ExitCode.ok);
  if (cancelled()) return cancel(ctx, carried, false);
  if (!(await runPre(ctx, runs, options.pre))) return finishAll(live, 'no-go', ExitCode.noGo);
  if (cancelled()) return cancel(ctx, carried, false);
  await prepareRuns(ctx, runs, options);
  // The last point where Ctrl-C counts: from the first dump on, sessions live in their images.
  if (cancelled()) return cancel(ctx, carried, true);
  const dumped = (await dumpRuns(ctx, runs)).map((r) => r.journal);
  if (!options.exec) return finishAll(dumped, 'dumped', ExitCode.ok);
  for (const journal of dumped) {
    journal.start('kexec');
    journal.mark('kexec');
  }
  ctx.out.progress({
    phase: 'kexec',
    state: 'start',
    message: 'jumping to the new kernel; the session resumes after the boot',
  });
  await jumpToKernel(ctx.runner, ctx.config.kexec.exec_with);
  throw new LeapError('KEXEC_RETURNED', 'kexec returned instead of booting the new kernel', {
    hint: 'the images and boot units are in place: `kexec -e` by hand, or reboot and restore with `kernel-leap restore`',
  });
}

/** Ctrl-C before the freeze: undo what was prepared, and give the sessions back. */
async function cancel(
  ctx: EngineContext,
  runs: readonly SessionRun[],
  prepared: boolean,
): Promise<number> {
  ctx.out.progress({
    phase: 'cancel',
    state: 'info',
    message: `cancelled (Ctrl-C): nothing was dumped${prepared ? ', the boot is left as it was' : ''}; the session goes on`,
  });
  if (prepared) await unwind(ctx, runs, []);
  for (const { journal } of runs) journal.mark('cancelled');
  return finishAll(
    runs.map((r) => r.journal),
    'aborted',
    ExitCode.failure,
  );
}

async function planRuns(
  ctx: EngineContext,
  handed: Leap<HandedSession>,
  callerPidNs: string | undefined,
): Promise<Leap<SessionRun>> {
  const live = liveSessions(ctx, handed, callerPidNs);
  const sessions = inDumpOrder(live);
  const roots = sessions.map((s) => s.rootPid);
  // What the kexec ends and this leap does not carry, for each run's report (the foreground already refused an unaccepted loss).
  const lost = leftBehind(liveProc, roots, sessionLogin(liveProc, live.caller.rootPid).user);
  // Planned together: a tree may hold another's terminal, or talk to it over a unix stream.
  const plans = planTogether(ctx, roots, live.caller.journal.runId);
  const runs: SessionRun[] = [];
  for (const [i, { journal, rootPid }] of sessions.entries()) {
    if (sessions.length > 1)
      ctx.out.progress({
        phase: 'session',
        state: 'info',
        message: `session ${i + 1} of ${sessions.length}: root ${rootPid}, run ${journal.runId}`,
      });
    runs.push({
      journal,
      rootPid,
      plan: await stepInRun(
        ctx,
        journal,
        'plan',
        async () => (await plans)[i] as SessionPlan,
        (plan) => ({ ...planSummary(plan), leftBehind: lost }),
      ),
    });
  }
  return leapOf(runs);
}

/** The trees' plans, each terminal one holds of another's kept, and their streams to each other named for the restore to rejoin. */
async function planTogether(
  ctx: EngineContext,
  roots: readonly number[],
  leapId: string,
): Promise<SessionPlan[]> {
  const plans: SessionPlan[] = [];
  for (const rootPid of roots) plans.push(await planSession(ctx.runner, ctx.config, rootPid));
  return linkTrees(plans, ctx.config, liveProc, leapId);
}

function anyNoGo(runs: Leap<SessionRun>): boolean {
  return inDumpOrder(runs).some((r) => r.plan.verdict === 'no-go');
}

/**
 * The runs still to carry, or undefined on the first no-go. A session other than
 * the caller's whose root ended before or during its rehearsal (an ssh connection
 * closing, as Ansible's do) has nothing to carry: its run ends, the others go on.
 */
async function rehearseRuns(
  ctx: EngineContext,
  runs: Leap<SessionRun>,
  rehearse: boolean,
): Promise<Leap<SessionRun> | undefined> {
  const others: SessionRun[] = [];
  for (const run of inDumpOrder(runs)) {
    const { journal, plan } = run;
    if (!rehearse) journal.skip('rehearse');
    else if (
      (
        await stepInRun(
          ctx,
          journal,
          'rehearse',
          (runner) => rehearseDump(runner, journal, plan),
          (r) => r,
        )
      ).verdict === 'no-go'
    ) {
      if (!(await abortIfEnded(ctx, run, run === runs.caller, 'before the dump'))) return undefined;
      continue;
    }
    if (run !== runs.caller) others.push(run);
  }
  return { caller: runs.caller, others };
}

/**
 * After criu failed on it: true when the session is not the caller's and its root
 * has ended, and then its run ends with nothing to carry. criu can report a
 * vanished root a moment before its exit shows in /proc.
 */
async function abortIfEnded(
  ctx: EngineContext,
  run: SessionRun,
  isCaller: boolean,
  when: string,
): Promise<boolean> {
  if (isCaller || !(await becomes(() => !isAlive(liveProc, run.rootPid), ROOT_EXIT_GRACE_MS)))
    return false;
  nothingToCarry(ctx, run.journal, run.rootPid, when);
  return true;
}

function nothingToCarry(
  ctx: EngineContext,
  journal: Journal,
  pid: number,
  when = 'before the dump',
): void {
  ctx.out.progress({
    phase: 'session',
    state: 'info',
    message: `session root ${pid} (run ${journal.runId}) ended ${when}: nothing to carry`,
  });
  rmSync(journal.paths.images, { recursive: true, force: true });
  // `aborted`, as any run that ends on this kernel; the mark tells it lost nothing (`runs --since`).
  journal.mark(SESSION_ENDED_MARK);
  finish(journal, 'aborted', ExitCode.ok);
}

/** The --pre command, journaled in the caller's run; false when the sessions it changed became a no-go. */
async function runPre(
  ctx: EngineContext,
  runs: Leap<SessionRun>,
  pre: string | undefined,
): Promise<boolean> {
  for (const run of inDumpOrder(runs)) if (run !== runs.caller || !pre) run.journal.skip('pre');
  if (!pre) return true;
  await stepInRun(
    ctx,
    runs.caller.journal,
    'pre',
    (runner) =>
      runner.run({
        file: '/bin/sh',
        args: [writePreScript(runs.caller.journal.paths.dir, pre)],
        timeoutMs: 60 * 60_000,
      }),
    (r) => ({ command: pre, exitCode: r.exitCode, durationMs: r.durationMs }),
  );
  // A package upgrade may have replaced binaries the sessions run: plan again.
  for (const run of inDumpOrder(runs))
    run.plan = await planSession(ctx.runner, ctx.config, run.rootPid);
  return !anyNoGo(runs);
}

/** Loads the kernel once and prepares each run's boot; a failure unwinds it all. */
async function prepareRuns(
  ctx: EngineContext,
  runs: Leap<SessionRun>,
  { kernel, pre }: Pick<WorkerOptions, 'kernel' | 'pre'>,
): Promise<void> {
  const all = inDumpOrder(runs);
  try {
    const loaded = await stepInRun(
      ctx,
      runs.caller.journal,
      'load',
      (runner) =>
        loadTargetKernel({
          runner,
          config: ctx.config.kexec,
          kernel,
          host: ctx.host,
          runId: runs.caller.journal.runId,
          afterPre: pre !== undefined,
        }),
      loadOutput,
    );
    // One kernel is loaded for all the sessions: each run's journal says so.
    for (const { journal } of runs.others) {
      journal.start('load');
      journal.finish('load', loadOutput(loaded));
    }
    for (const run of all)
      await stepInRun(
        ctx,
        run.journal,
        'prepare',
        (runner) =>
          prepareBoot({
            runner,
            config: ctx.config,
            journal: run.journal,
            plan: run.plan,
            loaded,
            sessions: all.length,
            host: ctx.host,
          }),
        (r) => r,
      );
  } catch (error) {
    await unwind(ctx, all, []);
    // A target refused before the freeze (none newer after --pre): the sessions never stopped.
    const noGo = isLeapError(error) && error.exit === ExitCode.noGo;
    finishAll(
      all.map((r) => r.journal),
      noGo ? 'no-go' : 'dump-failed',
      noGo ? ExitCode.noGo : ExitCode.failure,
    );
    throw error;
  }
}

function loadOutput(loaded: KexecLoadOutput): PhaseOutput<'load'> {
  return {
    from: loaded.from,
    to: loaded.to.version,
    vmlinuz: loaded.to.vmlinuz,
    initrd: loaded.to.initrd,
    cmdline: loaded.cmdline,
    why: loaded.why,
  };
}

/**
 * Dumps the runs, the others side by side and the caller's last, and leaves them
 * for the next boot; returns those dumped, in dump order. From the first dump on,
 * a dumped session lives only in its images: it is never unwound. A failed dump
 * resumes its session and the ones not reached, and keeps the dumped ones; a
 * session other than the caller's that ended under its dump has nothing to
 * carry, and the others go on.
 */
async function dumpRuns(ctx: EngineContext, runs: Leap<SessionRun>): Promise<SessionRun[]> {
  const dumped: SessionRun[] = [];
  const ended: SessionRun[] = [];
  const dumpInto = async (run: SessionRun) =>
    ((await dumpUnlessEnded(ctx, run, run === runs.caller)) ? dumped : ended).push(run);
  try {
    await sideBySide(runs.others, availableParallelism(), dumpInto);
    await dumpInto(runs.caller);
  } catch (error) {
    const failed = inDumpOrder(runs).filter((r) => !dumped.includes(r) && !ended.includes(r));
    await unwind(ctx, failed, dumped);
    if (dumped.length > 0) {
      await keepForNextBoot(ctx, dumped);
      ctx.out.progress({
        phase: 'dump',
        state: 'info',
        message: `the sessions of run ${dumped.map((r) => r.journal.runId).join(', ')} are dumped and wait for the loaded kernel: \`kexec -e\` restores them (any other boot restores them on the kernel that boots)`,
      });
    }
    // Last: the outcome releases the caller's launcher, which then stops showing progress.
    finishAll(
      failed.map((r) => r.journal),
      'dump-failed',
      ExitCode.failure,
    );
    throw error;
  }
  const inOrder = inDumpOrder(runs).filter((r) => dumped.includes(r));
  await keepForNextBoot(ctx, inOrder);
  return inOrder;
}

/**
 * Runs `each` on the items, at most `width` at once: the other sessions' dumps,
 * one a CPU. Each criu's work is its own tree's (its freeze, its parasite, its
 * pages), so seven sessions were frozen for seven dumps one after another: the
 * first one dumped waited through the six others. After a failure none more is
 * started; those under way finish, and the first failure is thrown.
 */
async function sideBySide<T>(
  items: readonly T[],
  width: number,
  each: (item: T) => Promise<unknown>,
): Promise<void> {
  const queue = [...items];
  let failed: { error: unknown } | undefined;
  const lane = async () => {
    for (let item = queue.shift(); item !== undefined && !failed; item = queue.shift())
      await each(item).catch((error: unknown) => {
        failed ??= { error };
      });
  };
  await Promise.all(Array.from({ length: Math.max(1, width) }, lane));
  if (failed) throw failed.error;
}

/** False when the session ended under its dump; the caller's own failure always stands. */
async function dumpUnlessEnded(
  ctx: EngineContext,
  run: SessionRun,
  isCaller: boolean,
): Promise<boolean> {
  try {
    await stepInRun(
      ctx,
      run.journal,
      'dump',
      (runner) => dumpSession(runner, run),
      (r) => r,
    );
    return true;
  } catch (error) {
    if (criuReturnedDump(run.journal)) {
      keptAfterDump(run.journal, error);
      return true;
    }
    if (!(await abortIfEnded(ctx, run, isCaller, 'during its dump'))) throw error;
    return false;
  }
}

/**
 * criu finished the dump and killed the tree, then the worker's own step failed
 * (a journal write on a full disk): the images are the session, so the run goes
 * on as dumped. The reserve makes room for what the leap still writes.
 */
function keptAfterDump(journal: Journal, error: unknown): void {
  releaseReserve(journal.paths.dir);
  const why = error instanceof Error ? error.message : String(error);
  closeFinishedDump(journal, `criu finished the dump; what failed after it: ${why}`);
}

/**
 * Each run's root in this pid namespace. The caller's session must still be there;
 * another one of --all-ssh that ended meanwhile has nothing left to carry.
 */
function liveSessions(
  ctx: EngineContext,
  sessions: Leap<HandedSession>,
  callerPidNs: string | undefined,
): Leap<LiveSession> {
  const others: LiveSession[] = [];
  for (const { journal, pid } of sessions.others) {
    const rootPid = hostPid(callerPidNs, pid);
    if (rootPid !== undefined) others.push({ journal, rootPid });
    else nothingToCarry(ctx, journal, pid);
  }
  const { journal, pid } = sessions.caller;
  const rootPid = hostPid(callerPidNs, pid);
  if (rootPid === undefined)
    throw new LeapError(
      'PID_NOT_FOUND',
      `the session root (pid ${pid} in ${callerPidNs}) is gone`,
      {
        hint: 'run the command again from the session',
        exit: ExitCode.usage,
      },
    );
  return { caller: { journal, rootPid }, others };
}

function dumpSession(runner: Runner, run: SessionRun) {
  const { journal, plan } = run;
  const logFile = join(journal.paths.logs, 'dump.log');
  return dumpTree({
    runner,
    journal,
    criuArgs: plan.dumpArgs(journal.paths.images, logFile),
    insideNamespacesOf: plan.ownPidNamespace && plan.rootPid,
    logFile,
    imagesDir: journal.paths.images,
    pids: plan.pids,
    execBitFixes: plan.execBitFixes,
    connections: plan.connections,
    markPrefix: 'dump',
  });
}

/**
 * Dumped sessions wait for the next boot: the pending mark first, so that even a
 * failed rule save cannot lose them, then the copies of the files they held that
 * the boot clears (every tree is dumped by now, so none still writes them), the
 * lock rules, the GRUB one-shot to this kernel, then everything to disk (`kexec -e`
 * does not sync).
 */
export async function keepForNextBoot(
  ctx: EngineContext,
  runs: ReadonlyArray<{ journal: Journal; plan: Pick<ResumableRun['plan'], 'connections'> }>,
): Promise<void> {
  markPending(
    ctx.config.paths.state_dir,
    runs.map((r) => r.journal.runId),
  );
  for (const { journal } of runs) carryHeldFiles(ctx.out, journal);
  await saveLockRules(
    ctx.runner,
    lockRulesPath(ctx.config.paths.state_dir),
    runs.flatMap((r) => r.plan.connections),
  );
  await armFallback(
    ctx,
    runs.map((r) => r.journal),
  );
  await ctx.runner.run({ file: 'sync', timeoutMs: 120_000 });
}

/**
 * Without the one-shot the leap goes on as it would on a machine without GRUB: the
 * sessions are in their images by now, and a failed write must not keep them there.
 */
async function armFallback(ctx: EngineContext, journals: readonly Journal[]): Promise<void> {
  try {
    await armBootFallback({
      runner: ctx.runner,
      host: ctx.host,
      stateDir: ctx.config.paths.state_dir,
      journals,
    });
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    for (const journal of journals)
      journal.recordChange('boot-fallback-failed', 'grub next_entry', why);
    ctx.out.progress({
      phase: 'kexec',
      state: 'info',
      message: `the GRUB one-shot to this kernel was not set (${why}); a new kernel that fails to boot relies on panic= and the firmware's default boot`,
    });
  }
}

/** The worker runs in the host's pid namespace; undefined when the process is gone. */
function hostPid(callerPidNs: string | undefined, pid: number): number | undefined {
  return callerPidNs === undefined ? pid : pidFromNamespace(liveProc, callerPidNs, pid);
}
