/**
 * The upgrade worker. It runs as a transient systemd service, outside the session
 * it dumps (own cgroup, own session), so the freeze never includes the tool.
 * Everything that does not need the images happens before the freeze; after it
 * only the dump, the rule save, the pending mark, sync and the jump.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Output } from '../cli/output.js';
import type { Config } from '../config/schema.js';
import { ExitCode, LeapError } from '../errors.js';
import { removeArtefacts } from '../phases/cleanup.js';
import { dumpTree, keepSessionRunning } from '../phases/dump.js';
import { jumpToKernel, loadTargetKernel, unloadTargetKernel } from '../phases/kexec.js';
import { lockRulesPath, prepareBoot, saveLockRules } from '../phases/prepare.js';
import { rehearseDump } from '../phases/rehearse.js';
import { type Outcome, writeOutcome } from '../phases/restore.js';
import { readOutcome } from '../phases/report.js';
import { pidFromNamespace, readStatus } from '../tools/proc-tasks.js';
import { liveProc } from '../tools/procfs.js';
import type { Runner } from '../tools/runner.js';
import { Journal } from './journal.js';
import { workerUnitName } from './launch.js';
import { clearPending, markPending, pendingRuns } from './pending.js';
import { PHASES } from './phases.js';
import { planSession, type SessionPlan } from './planning.js';
import { stepInRun } from './step.js';
import { waitForExit, waitUntil } from './wait.js';

export interface WorkerOptions {
  runId: string;
  /** In callerPidNs: the foreground may run inside a restored session's pid namespace. */
  rootPid: number;
  /** `upgrade --all-ssh`: the other sessions, each with a run of its own, dumped before this one. */
  others: ReadonlyArray<{ runId: string; rootPid: number }>;
  /** The foreground process that hands off to the launcher shell; it must be gone before the dump. */
  waitPid: number | undefined;
  callerPidNs: string | undefined;
  rehearse: boolean;
  exec: boolean;
  pre: string | undefined;
  kernel: string | undefined;
  /** 'rehearse' stops after the rehearsal. */
  mode: 'upgrade' | 'rehearse';
}

export interface WorkerContext {
  runner: Runner & { logFile?: string };
  config: Config;
  out: Output;
}

/** One session of the run: its journal, its root in this pid namespace, and its plan. */
interface SessionRun {
  journal: Journal;
  rootPid: number;
  plan: SessionPlan;
}

export async function runWorker(ctx: WorkerContext, options: WorkerOptions): Promise<number> {
  const stateDir = ctx.config.paths.state_dir;
  // The caller's own session last: it is dumped last, so a failure leaves it running to hear of it.
  const journals = [...options.others.map((o) => Journal.open(stateDir, o.runId)), Journal.open(stateDir, options.runId)];
  const primary = journals.at(-1) as Journal;
  ctx.runner.logFile = primary.paths.commandLog;
  ctx.out.progressDir = join(primary.paths.dir, 'progress');
  try {
    return await work(ctx, journals, options);
  } catch (error) {
    // The launcher shell in the session waits for an outcome: never leave it without one.
    for (const journal of journals) if (readOutcome(journal.paths.dir) === undefined) finish(journal, 'aborted', ExitCode.failure);
    throw error;
  }
}

async function work(ctx: WorkerContext, journals: readonly Journal[], options: WorkerOptions): Promise<number> {
  const waitPid = options.waitPid === undefined ? undefined : hostPid(options.callerPidNs, options.waitPid);
  if (waitPid !== undefined) await waitForExit(waitPid, 30_000);
  const runs = await planRuns(ctx, journals, options);
  const live = runs.map((r) => r.journal);
  if (anyNoGo(runs) || !(await rehearseRuns(ctx, runs, options.rehearse))) return finishAll(live, 'no-go', ExitCode.noGo);
  if (options.mode === 'rehearse') return finishAll(live, 'rehearsed', ExitCode.ok);
  if (!(await runPre(ctx, runs, options.pre))) return finishAll(live, 'no-go', ExitCode.noGo);
  await prepareRuns(ctx, runs, options.kernel);
  await dumpRuns(ctx, runs);
  if (!options.exec) return finishAll(live, 'dumped', ExitCode.ok);
  for (const journal of live) {
    journal.start('kexec');
    journal.mark('kexec');
  }
  ctx.out.progress({ phase: 'kexec', state: 'start', message: 'jumping to the new kernel; the session resumes after the boot' });
  await jumpToKernel(ctx.runner, ctx.config.kexec.exec_with);
  throw new LeapError('KEXEC_RETURNED', 'kexec returned instead of booting the new kernel', { hint: 'the images and boot units are in place: `kexec -e` by hand, or reboot and restore with `kernel-leap restore`' });
}

async function planRuns(ctx: WorkerContext, journals: readonly Journal[], options: WorkerOptions): Promise<SessionRun[]> {
  const sessions = liveSessions(ctx, journals, [...options.others.map((o) => o.rootPid), options.rootPid], options.callerPidNs);
  const runs: SessionRun[] = [];
  for (const [i, { journal, rootPid }] of sessions.entries()) {
    if (sessions.length > 1) ctx.out.progress({ phase: 'session', state: 'info', message: `session ${i + 1} of ${sessions.length}: root ${rootPid}, run ${journal.runId}` });
    runs.push({ journal, rootPid, plan: await stepInRun(ctx, journal, 'plan', () => planSession(ctx.runner, ctx.config, rootPid), summarizePlan) });
  }
  return runs;
}

function anyNoGo(runs: readonly SessionRun[]): boolean {
  return runs.some((r) => r.plan.verdict === 'no-go');
}

/** False on the first no-go. */
async function rehearseRuns(ctx: WorkerContext, runs: readonly SessionRun[], rehearse: boolean): Promise<boolean> {
  for (const { journal, plan } of runs) {
    if (!rehearse) journal.skip('rehearse');
    else if ((await stepInRun(ctx, journal, 'rehearse', () => rehearseDump(ctx.runner, journal, plan), (r) => ({ ...r }))).verdict === 'no-go') return false;
  }
  return true;
}

/** The --pre command, journaled in the caller's run; false when the sessions it changed became a no-go. */
async function runPre(ctx: WorkerContext, runs: readonly SessionRun[], pre: string | undefined): Promise<boolean> {
  const primary = runs.at(-1) as SessionRun;
  for (const run of runs) if (run !== primary || !pre) run.journal.skip('pre');
  if (!pre) return true;
  await stepInRun(ctx, primary.journal, 'pre', () => ctx.runner.run({ file: '/bin/sh', args: ['-c', pre], timeoutMs: 60 * 60_000 }), (r) => ({ command: pre, exitCode: r.exitCode, durationMs: r.durationMs }));
  // A package upgrade may have replaced binaries the sessions run: plan again.
  for (const run of runs) run.plan = await planSession(ctx.runner, ctx.config, run.rootPid);
  return !anyNoGo(runs);
}

/** Loads the kernel once and prepares each run's boot; a failure unwinds it all. */
async function prepareRuns(ctx: WorkerContext, runs: readonly SessionRun[], kernel: string | undefined): Promise<void> {
  const primary = runs.at(-1) as SessionRun;
  try {
    await stepInRun(ctx, primary.journal, 'load', () => loadTargetKernel({ runner: ctx.runner, config: ctx.config.kexec, kernel }), (r) => ({ from: r.from, to: r.to.version, vmlinuz: r.to.vmlinuz, initrd: r.to.initrd, cmdline: r.cmdline }));
    for (const run of runs) if (run !== primary) copyPhase(primary.journal, run.journal, 'load');
    for (const run of runs) await stepInRun(ctx, run.journal, 'prepare', () => prepareBoot({ runner: ctx.runner, config: ctx.config, journal: run.journal, plan: run.plan, sessions: runs.length }), (r) => ({ units: r.units, artefacts: r.artefacts, clockOffsetMs: r.clockOffsetMs }));
  } catch (error) {
    await unwind(ctx, runs, []);
    finishAll(runs.map((r) => r.journal), 'dump-failed', ExitCode.failure);
    throw error;
  }
}

/**
 * Dumps the runs in order and leaves them for the next boot. From the first dump
 * on, a dumped session lives only in its images: it is never unwound. A failed
 * dump resumes its session and the ones not reached, and keeps the dumped ones.
 */
async function dumpRuns(ctx: WorkerContext, runs: readonly SessionRun[]): Promise<void> {
  const dumped: SessionRun[] = [];
  try {
    for (const run of runs) {
      await stepInRun(ctx, run.journal, 'dump', () => dumpSession(ctx, run), (r) => ({ ...r }));
      dumped.push(run);
    }
  } catch (error) {
    const failed = runs.filter((r) => !dumped.includes(r));
    await unwind(ctx, failed, dumped);
    if (dumped.length > 0) {
      await keepForNextBoot(ctx, dumped);
      ctx.out.progress({ phase: 'dump', state: 'info', message: `the sessions of run ${dumped.map((r) => r.journal.runId).join(', ')} are dumped and wait for the next boot: \`kexec -e\` or a reboot restores them` });
    }
    // Last: the outcome releases the caller's launcher, which then stops showing progress.
    finishAll(failed.map((r) => r.journal), 'dump-failed', ExitCode.failure);
    throw error;
  }
  await keepForNextBoot(ctx, runs);
}

/**
 * Each run's root in this pid namespace. The caller's session must still be there;
 * another one of --all-ssh that ended meanwhile has nothing left to carry.
 */
function liveSessions(ctx: WorkerContext, journals: readonly Journal[], roots: readonly number[], callerPidNs: string | undefined): Array<{ journal: Journal; rootPid: number }> {
  const live: Array<{ journal: Journal; rootPid: number }> = [];
  for (const [i, journal] of journals.entries()) {
    const pid = roots[i] as number;
    const rootPid = hostPid(callerPidNs, pid);
    if (rootPid !== undefined) live.push({ journal, rootPid });
    else if (i === journals.length - 1) throw new LeapError('PID_NOT_FOUND', `the session root (pid ${pid} in ${callerPidNs}) is gone`, { hint: 'run the command again from the session', exit: ExitCode.usage });
    else {
      ctx.out.progress({ phase: 'session', state: 'info', message: `session root ${pid} (run ${journal.runId}) ended before the dump: nothing to carry` });
      finish(journal, 'aborted', ExitCode.ok);
    }
  }
  return live;
}

function dumpSession(ctx: WorkerContext, run: SessionRun) {
  const { journal, plan } = run;
  const logFile = join(journal.paths.logs, 'dump.log');
  return dumpTree({ runner: ctx.runner, journal, criuArgs: plan.dumpArgs(journal.paths.images, logFile), insideNamespacesOf: plan.ownPidNamespace && plan.rootPid, logFile, imagesDir: journal.paths.images, pids: plan.pids, execBitFixes: plan.execBitFixes, connections: plan.connections, markPrefix: 'dump' });
}

/**
 * Dumped sessions wait for the next boot: the pending mark first, so that even a
 * failed rule save cannot lose them, then the lock rules, then everything to disk
 * (`kexec -e` does not sync).
 */
async function keepForNextBoot(ctx: WorkerContext, runs: readonly SessionRun[]): Promise<void> {
  markPending(ctx.config.paths.state_dir, runs.map((r) => r.journal.runId));
  await saveLockRules(ctx.runner, lockRulesPath(ctx.config.paths.state_dir), runs.flatMap((r) => r.plan.connections));
  await ctx.runner.run({ file: 'sync', timeoutMs: 120_000 });
}

/** A phase done once for all sessions (the kernel load), recorded in each run's journal. */
function copyPhase(from: Journal, to: Journal, name: 'load'): void {
  to.start(name);
  to.finish(name, from.phase(name).outputs);
}

/** How systemd says the worker's unit ended: $SERVICE_RESULT, $EXIT_CODE, $EXIT_STATUS of ExecStopPost=. */
export interface ServiceEnd {
  result: string | undefined;
  code: string | undefined;
  status: string | undefined;
}

/**
 * The worker unit's ExecStopPost=. A worker killed by a signal (kill -9, the OOM
 * killer) writes no outcome, and the launcher in the session would wait for one
 * forever: give it one, and unwind as a failed dump does. False when the worker
 * had ended properly, or had handed the run to the next boot.
 */
export async function settleStoppedWorker(ctx: WorkerContext, runId: string, end: ServiceEnd): Promise<boolean> {
  const journal = Journal.open(ctx.config.paths.state_dir, runId);
  if (readOutcome(journal.paths.dir) !== undefined || pendingRuns(ctx.config.paths.state_dir).includes(runId)) return false;
  ctx.runner.logFile = journal.paths.commandLog;
  // KillMode=process: a criu the worker started may still be freezing or dumping the tree.
  await waitUntil(() => !workerUnitPeers(runId).some((pid) => readStatus(liveProc, pid)?.name === 'criu'), 120_000, 'the worker\'s criu to exit', 'stop the worker unit with systemctl stop', {}, 500).catch(() => undefined);
  const dumped = journal.snapshot.marks['dump.dumped'] !== undefined;
  const error = {
    code: 'WORKER_ENDED',
    message: `the worker ended without an outcome (${describeEnd(end)})`,
    hint: dumped
      ? `the dump had completed: its images are kept in ${journal.paths.images}; restore them with \`kernel-leap restore --run ${runId}\``
      : 'the session was resumed and the boot left as it was; look for an OOM kill in `journalctl -k`, then run the upgrade again',
  };
  const running = PHASES.find((name) => journal.phase(name).status === 'running');
  if (running) journal.fail(running, error);
  journal.mark('worker.ended');
  if (!dumped) await unwind(ctx, [{ journal, plan: plannedTree(journal) }], []);
  finish(journal, 'aborted', ExitCode.failure);
  return true;
}

function describeEnd(end: ServiceEnd): string {
  if (end.code === 'killed' || end.code === 'dumped') return `killed by signal ${end.status ?? '?'}`;
  if (end.code === 'exited') return `exit status ${end.status ?? '?'}`;
  return `service result ${end.result ?? 'unknown'}`;
}

/** Other processes in the worker unit's cgroup, where its ExecStopPost= runs too; none when run by hand. */
function workerUnitPeers(runId: string): number[] {
  const path = liveProc.readText('/proc/self/cgroup')?.match(/^0::(\S+)$/m)?.[1];
  if (!path?.endsWith(`/${workerUnitName(runId)}.service`)) return [];
  const procs = liveProc.readText(`/sys/fs/cgroup${path}/cgroup.procs`);
  return (procs ?? '').split('\n').filter(Boolean).map(Number).filter((pid) => pid !== process.pid);
}

/** What the plan phase recorded of the tree: enough to resume it and drop its lock rules. */
function plannedTree(journal: Journal): Pick<SessionPlan, 'pids' | 'connections'> {
  const outputs = journal.phase('plan').outputs as Partial<SessionPlan> | undefined;
  return { pids: outputs?.pids ?? [], connections: outputs?.connections ?? [] };
}

/**
 * A failed load, prepare or dump: these sessions keep running, their images go.
 * With nothing dumped the next boot is normal; otherwise the boot units and the
 * loaded kernel stay for the sessions that were.
 */
async function unwind(ctx: WorkerContext, resume: ReadonlyArray<Pick<SessionRun, 'journal'> & { plan: Pick<SessionPlan, 'pids' | 'connections'> }>, dumped: readonly SessionRun[]): Promise<void> {
  for (const { journal, plan } of resume) {
    await keepSessionRunning({ runner: ctx.runner, journal, pids: plan.pids, connections: plan.connections });
    rmSync(journal.paths.images, { recursive: true, force: true });
  }
  if (dumped.length > 0) return;
  clearPending(ctx.config.paths.state_dir);
  await unloadTargetKernel(ctx.runner).catch(() => undefined);
  for (const { journal } of resume) await removeArtefacts(ctx.runner, journal, (journal.phase('prepare').outputs?.units as string[] | undefined) ?? []);
}

/** The worker runs in the host's pid namespace; undefined when the process is gone. */
function hostPid(callerPidNs: string | undefined, pid: number): number | undefined {
  return callerPidNs === undefined ? pid : pidFromNamespace(liveProc, callerPidNs, pid);
}

function finish(journal: Journal, outcome: Outcome, code: number): number {
  journal.mark(`outcome.${outcome}`);
  writeOutcome(journal.paths.dir, outcome);
  return code;
}

function finishAll(journals: readonly Journal[], outcome: Outcome, code: number): number {
  for (const journal of journals) finish(journal, outcome, code);
  return code;
}

function summarizePlan(plan: SessionPlan): Record<string, unknown> {
  return { root: plan.rootPid, pids: plan.pids, verdict: plan.verdict, risks: plan.risks, connections: plan.connections, ptys: plan.ptys, fifos: plan.fifos, unixExternals: plan.unixExternals, ghosts: plan.ghosts, execBitFixes: plan.execBitFixes };
}
