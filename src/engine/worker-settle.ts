/**
 * The worker unit's ExecStopPost=, for a worker that ended without an outcome:
 * killed by a signal (kill -9, the OOM killer), or crashed.
 */
import { ExitCode } from '../errors.js';
import { Journal } from '../state/journal.js';
import { readOutcome } from '../state/outcome.js';
import { pendingRuns } from '../state/pending.js';
import { PHASES } from '../state/phase-table.js';
import type { SessionPlan } from '../steps/planning.js';
import { readStatus } from '../tools/proc-tasks.js';
import { liveProc } from '../tools/procfs.js';
import { waitUntil } from '../tools/wait.js';
import type { EngineContext } from './context.js';
import { workerUnitName } from './launch.js';
import { finish, unwind } from './unwind.js';

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
export async function settleStoppedWorker(ctx: EngineContext, runId: string, end: ServiceEnd): Promise<boolean> {
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
