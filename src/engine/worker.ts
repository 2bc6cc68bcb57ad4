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
import { pidFromNamespace } from '../tools/proc-tasks.js';
import { liveProc } from '../tools/procfs.js';
import type { Runner } from '../tools/runner.js';
import { Journal } from './journal.js';
import { clearPending, markPending } from './pending.js';
import { planSession, type SessionPlan } from './planning.js';
import { step } from './step.js';
import { waitForExit } from './wait.js';

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
    if (readOutcome(journal.paths.dir) === undefined) finish(journal, 'failed', ExitCode.failure);
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

/** A failed load, prepare or dump: the session keeps running and the next boot is normal. */
async function unwind(ctx: WorkerContext, journal: Journal, plan: SessionPlan): Promise<void> {
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
