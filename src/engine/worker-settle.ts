/**
 * The worker unit's ExecStopPost=, for a worker that ended without an outcome:
 * killed by a signal (kill -9, the OOM killer), or crashed.
 */
import { ExitCode, isLeapError } from '../errors.js';
import { Journal } from '../state/journal.js';
import { readOutcome } from '../state/outcome.js';
import { pendingRuns } from '../state/pending.js';
import { PHASES } from '../state/phase-table.js';
import { releaseReserve } from '../state/reserve.js';
import { execKernel } from '../tools/kexec.js';
import { readStatus } from '../tools/proc-tasks.js';
import { liveProc } from '../tools/procfs.js';
import { waitUntil } from '../tools/wait.js';
import type { EngineContext } from './context.js';
import { closeFinishedDump, dumpedToImages } from './dumped.js';
import { workerUnitName } from './launch.js';
import { inDumpOrder, type Leap, mapLeap } from './leap.js';
import { finishAll, type ResumableRun, unwind } from './unwind.js';
import { keepForNextBoot, NO_EXEC_MARK } from './worker-run.js';

/** How systemd says the worker's unit ended: $SERVICE_RESULT, $EXIT_CODE, $EXIT_STATUS of ExecStopPost=. */
export interface ServiceEnd {
  result: string | undefined;
  code: string | undefined;
  status: string | undefined;
}

/**
 * The worker unit's ExecStopPost=. A worker killed by a signal (kill -9, the OOM
 * killer) writes no outcome, and the launcher in the session would wait for one
 * forever. Each of its runs (several with --all-ssh, the caller's last) gets what
 * the worker would have given it: a session still running is resumed and its run
 * `aborted`; a dumped one, which now lives only in its images, is handed to the
 * next boot, and when every session is dumped, the machine jumps. False when the
 * worker had ended properly, or had handed its runs to the next boot.
 */
export async function settleStoppedWorker(
  ctx: EngineContext,
  runIds: Leap<string>,
  end: ServiceEnd,
  dumpBoundMs: number,
): Promise<boolean> {
  const stateDir = ctx.config.paths.state_dir;
  const journals = mapLeap(runIds, (id) => Journal.open(stateDir, id));
  const unsettled = inDumpOrder(journals).filter(
    (j) => readOutcome(j.paths.dir) === undefined && !pendingRuns(stateDir).includes(j.runId),
  );
  if (unsettled.length === 0) return false;
  for (const journal of unsettled) releaseReserve(journal.paths.dir);
  // The settle's commands go to the caller's run, which names the worker, as the worker's did.
  const callerCtx = { ...ctx, runner: ctx.runner.loggingTo(journals.caller.paths.commandLog) };
  await waitForWorkersChildren(runIds.caller, unsettled, dumpBoundMs);
  const runs = unsettled.map((journal) => ({ journal, plan: plannedTree(journal) }));
  const dumped = runs.filter((r) => dumpedToImages(r.journal));
  const resumed = runs.filter((r) => !dumped.includes(r));
  for (const { journal } of runs) journal.mark('worker.ended');
  for (const { journal } of resumed) failRunningPhase(journal, end);
  for (const { journal } of dumped) closeDumpPhase(journal, end);
  // With a dumped session, the loaded kernel and the boot units stay for it.
  await unwind(callerCtx, resumed, dumped);
  if (dumped.length > 0) await keepForNextBoot(callerCtx, dumped);
  // Last: an outcome releases the launcher waiting in that session.
  finishAll(
    resumed.map((r) => r.journal),
    'aborted',
    ExitCode.failure,
  );
  // A session still running would end with the jump.
  if (dumped.length > 0 && resumed.length === 0)
    await goOn(
      callerCtx,
      dumped.map((r) => r.journal),
    );
  return true;
}

/**
 * KillMode=process: what the worker started outlives it. criu may still be
 * freezing or dumping a tree (for as long as the dump's bound), `kexec -l` may still load the kernel the unwind
 * must unload. One that outlives the wait is journaled, and the settle goes on.
 */
async function waitForWorkersChildren(
  runId: string,
  journals: readonly Journal[],
  dumpBoundMs: number,
): Promise<void> {
  try {
    await waitUntil(
      () => !workerUnitPeers(runId).some((pid) => readStatus(liveProc, pid) !== undefined),
      dumpBoundMs,
      "the worker's children to exit",
      'stop the worker unit with systemctl stop',
      {},
      500,
    );
  } catch (error) {
    if (!isLeapError(error)) throw error;
    for (const journal of journals)
      journal.recordChange('worker-children-still-running', `worker ${runId}`, error.message);
  }
}

/** Every session is dumped: what the worker would have done next, the jump, or `dumped` after --no-exec. */
async function goOn(ctx: EngineContext, journals: readonly Journal[]): Promise<void> {
  if (journals.some((j) => j.snapshot.marks[NO_EXEC_MARK] !== undefined)) {
    finishAll(journals, 'dumped', ExitCode.ok);
    return;
  }
  for (const journal of journals) {
    journal.start('kexec');
    journal.mark('kexec');
  }
  // Not jumpToKernel: it waits for the shutdown to stop it, and this unit's stop waits for us.
  await execKernel(ctx.runner, ctx.config.kexec.exec_with);
}

function failRunningPhase(journal: Journal, end: ServiceEnd): void {
  const running = PHASES.find((name) => journal.phase(name).status === 'running');
  if (!running) return;
  journal.fail(running, {
    code: 'WORKER_ENDED',
    message: `the worker ended without an outcome (${describeEnd(end)})`,
    hint: 'the session was resumed and the boot left as it was; look for an OOM kill in `journalctl -k`, then run the upgrade again',
  });
}

/** A dump criu completed after the worker's end is done, like any other. */
function closeDumpPhase(journal: Journal, end: ServiceEnd): void {
  closeFinishedDump(journal, `criu finished the dump after the worker ended (${describeEnd(end)})`);
}

function describeEnd(end: ServiceEnd): string {
  if (end.code === 'killed' || end.code === 'dumped')
    return `killed by signal ${end.status ?? '?'}`;
  if (end.code === 'exited') return `exit status ${end.status ?? '?'}`;
  return `service result ${end.result ?? 'unknown'}`;
}

/** Other processes in the worker unit's cgroup, where its ExecStopPost= runs too; none when run by hand. */
function workerUnitPeers(runId: string): number[] {
  const path = liveProc.readText('/proc/self/cgroup')?.match(/^0::(\S+)$/m)?.[1];
  if (!path?.endsWith(`/${workerUnitName(runId)}.service`)) return [];
  const procs = liveProc.readText(`/sys/fs/cgroup${path}/cgroup.procs`);
  return (procs ?? '')
    .split('\n')
    .filter(Boolean)
    .map(Number)
    .filter((pid) => pid !== process.pid);
}

/** What the plan phase recorded of the tree: enough to resume it and drop its lock rules. */
function plannedTree(journal: Journal): ResumableRun['plan'] {
  const planned = journal.output('plan');
  return { pids: planned?.pids ?? [], connections: planned?.connections ?? [] };
}
