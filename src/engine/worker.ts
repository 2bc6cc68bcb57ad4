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
import { prepareBoot, saveLockRules } from '../phases/prepare.js';
import { rehearseDump } from '../phases/rehearse.js';
import { type Outcome, writeOutcome } from '../phases/restore.js';
import { readOutcome } from '../phases/report.js';
import { pidFromNamespace, readStatus } from '../tools/proc-tasks.js';
import { liveProc } from '../tools/procfs.js';
import type { Runner } from '../tools/runner.js';
import { Journal } from './journal.js';
import { workerUnitName } from './launch.js';
import { clearPending, markPending, pendingRun } from './pending.js';
import { PHASES } from './phases.js';
import { planSession, type SessionPlan } from './planning.js';
import { step } from './step.js';
import { waitForExit, waitUntil } from './wait.js';

export interface WorkerOptions {
  runId: string;
  /** In callerPidNs: the foreground may run inside a restored session's pid namespace. */
  rootPid: number;
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

export async function runWorker(ctx: WorkerContext, options: WorkerOptions): Promise<number> {
  const journal = Journal.open(ctx.config.paths.state_dir, options.runId);
  ctx.runner.logFile = journal.paths.commandLog;
  ctx.out.progressDir = join(journal.paths.dir, 'progress');
  try {
    return await work(ctx, journal, options);
  } catch (error) {
    // The launcher shell in the session waits for an outcome: never leave it without one.
    if (readOutcome(journal.paths.dir) === undefined) finish(journal, 'aborted', ExitCode.failure);
    throw error;
  }
}

async function work(ctx: WorkerContext, journal: Journal, options: WorkerOptions): Promise<number> {
  const s = { journal, out: ctx.out };
  const waitPid = options.waitPid === undefined ? undefined : hostPid(options.callerPidNs, options.waitPid);
  if (waitPid !== undefined) await waitForExit(waitPid, 30_000);
  const rootPid = hostPid(options.callerPidNs, options.rootPid);
  if (rootPid === undefined) throw new LeapError('PID_NOT_FOUND', `the session root (pid ${options.rootPid} in ${options.callerPidNs}) is gone`, { hint: 'run the command again from the session', exit: ExitCode.usage });

  let plan = await step(s, 'plan', () => planSession(ctx.runner, ctx.config, rootPid), summarizePlan);
  if (plan.verdict === 'no-go') return finish(journal, 'no-go', ExitCode.noGo);
  if (options.rehearse) {
    const verdict = await step(s, 'rehearse', () => rehearseDump(ctx.runner, journal, plan), (r) => ({ ...r }));
    if (verdict.verdict === 'no-go') return finish(journal, 'no-go', ExitCode.noGo);
  } else journal.skip('rehearse');
  if (options.mode === 'rehearse') return finish(journal, 'rehearsed', ExitCode.ok);

  if (options.pre) {
    await step(s, 'pre', () => ctx.runner.run({ file: '/bin/sh', args: ['-c', options.pre as string], timeoutMs: 60 * 60_000 }), (r) => ({ command: options.pre, exitCode: r.exitCode, durationMs: r.durationMs }));
    // A package upgrade may have replaced binaries the session runs: plan again.
    plan = await planSession(ctx.runner, ctx.config, rootPid);
    if (plan.verdict === 'no-go') return finish(journal, 'no-go', ExitCode.noGo);
  } else journal.skip('pre');

  try {
    await step(s, 'load', () => loadTargetKernel({ runner: ctx.runner, config: ctx.config.kexec, kernel: options.kernel }), (r) => ({ from: r.from, to: r.to.version, vmlinuz: r.to.vmlinuz, initrd: r.to.initrd, cmdline: r.cmdline }));
    const prepared = await step(s, 'prepare', () => prepareBoot({ runner: ctx.runner, config: ctx.config, journal, plan }), (r) => ({ units: r.units, artefacts: r.artefacts, clockOffsetMs: r.clockOffsetMs }));
    await step(s, 'dump', () => dumpTree({ runner: ctx.runner, journal, criuArgs: plan.dumpArgs(journal.paths.images, join(journal.paths.logs, 'dump.log')), insideNamespacesOf: plan.ownPidNamespace && plan.rootPid, logFile: join(journal.paths.logs, 'dump.log'), imagesDir: journal.paths.images, pids: plan.pids, execBitFixes: plan.execBitFixes, connections: plan.connections, markPrefix: 'dump' }), (r) => ({ ...r }));
    await saveLockRules(ctx.runner, prepared.rulesFile, plan.connections);
    markPending(ctx.config.paths.state_dir, journal.runId);
  } catch (error) {
    await unwind(ctx, journal, plan);
    finish(journal, 'dump-failed', ExitCode.failure);
    throw error;
  }
  // Images, units and the pending mark must be on disk before anyone kexecs: `kexec -e` does not sync.
  await ctx.runner.run({ file: 'sync', timeoutMs: 120_000 });
  if (!options.exec) return finish(journal, 'dumped', ExitCode.ok);
  journal.start('kexec');
  journal.mark('kexec');
  ctx.out.progress({ phase: 'kexec', state: 'start', message: 'jumping to the new kernel; the session resumes after the boot' });
  await jumpToKernel(ctx.runner, ctx.config.kexec.exec_with);
  throw new LeapError('KEXEC_RETURNED', 'kexec returned instead of booting the new kernel', { hint: 'the images and boot units are in place: `kexec -e` by hand, or reboot and restore with `kernel-leap restore`' });
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
  if (readOutcome(journal.paths.dir) !== undefined || pendingRun(ctx.config.paths.state_dir) === runId) return false;
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
  if (!dumped) await unwind(ctx, journal, plannedTree(journal));
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

/** A failed load, prepare or dump: the session keeps running and the next boot is normal. */
async function unwind(ctx: WorkerContext, journal: Journal, plan: Pick<SessionPlan, 'pids' | 'connections'>): Promise<void> {
  await keepSessionRunning({ runner: ctx.runner, journal, pids: plan.pids, connections: plan.connections });
  clearPending(ctx.config.paths.state_dir);
  await unloadTargetKernel(ctx.runner).catch(() => undefined);
  const units = (journal.phase('prepare').outputs?.units as string[] | undefined) ?? [];
  await removeArtefacts(ctx.runner, journal, units);
  rmSync(journal.paths.images, { recursive: true, force: true });
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

function summarizePlan(plan: SessionPlan): Record<string, unknown> {
  return { root: plan.rootPid, pids: plan.pids, verdict: plan.verdict, risks: plan.risks, connections: plan.connections, ptys: plan.ptys, fifos: plan.fifos, unixExternals: plan.unixExternals, ghosts: plan.ghosts, execBitFixes: plan.execBitFixes };
}
