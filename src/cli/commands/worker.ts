import { inDumpOrder } from '../../engine/leap.js';
import { shipIfEnded } from '../../engine/ship.js';
import { runWorker } from '../../engine/worker-run.js';
import { settleStoppedWorker } from '../../engine/worker-settle.js';
import { ExitCode, LeapError } from '../../errors.js';
import type { Command } from '../command.js';

/** Internal: started by `upgrade` and `rehearse` through systemd-run, outside the session. */
export const workerCommand: Command = {
  name: 'worker',
  needsRoot: true,
  summary: '(internal) the detached worker that rehearses, dumps and kexecs',
  usage:
    'worker --run ID --root PID [--also ROOT:RUN ...] [--wait-pid PID] [--pidns pid:[INO]] [--mode upgrade|rehearse] [--no-rehearse] [--no-exec] [--pre CMD] [--kernel K]',
  options: {
    run: { type: 'string' },
    root: { type: 'string' },
    also: { type: 'string', multiple: true },
    'wait-pid': { type: 'string' },
    pidns: { type: 'string' },
    mode: { type: 'string' },
    'no-rehearse': { type: 'boolean' },
    'no-exec': { type: 'boolean' },
    pre: { type: 'string' },
    kernel: { type: 'string' },
  },
  optionHelp: [
    "--run ID, --root PID, --also ROOT:RUN (another session and its run, for --all-ssh), --wait-pid PID (both in --pidns, the caller's pid namespace), --mode upgrade|rehearse, --no-rehearse, --no-exec, --pre CMD, --kernel K",
  ],
  async run(ctx, values) {
    try {
      return await runWorker(ctx, {
        runId: String(values.run),
        rootPid: Number(values.root),
        others: ((values.also as string[] | undefined) ?? []).map(parseOther),
        waitPid: values['wait-pid'] === undefined ? undefined : Number(values['wait-pid']),
        callerPidNs: values.pidns as string | undefined,
        mode: values.mode === 'rehearse' ? 'rehearse' : 'upgrade',
        rehearse: values['no-rehearse'] !== true,
        exec: values['no-exec'] !== true,
        pre: values.pre as string | undefined,
        kernel: values.kernel as string | undefined,
      });
    } finally {
      await shipIfEnded(ctx, String(values.run));
    }
  },
};

/** `--also ROOT:RUN`: one more session of `upgrade --all-ssh`. */
function parseOther(value: string): { runId: string; rootPid: number } {
  const [root, runId] = value.split(':');
  if (!root || !runId || !/^\d+$/.test(root))
    throw new LeapError('USAGE', `--also ${value}: expected ROOT:RUN`, {
      hint: 'the upgrade command passes these; do not run the worker by hand',
      exit: ExitCode.usage,
    });
  return { runId, rootPid: Number(root) };
}

/**
 * Internal: the worker unit's ExecStopPost=, for a worker that died without an
 * outcome. It runs only when the run has neither an outcome nor the pending mark.
 */
export const workerStoppedCommand: Command = {
  name: 'worker-stopped',
  needsRoot: true,
  summary:
    '(internal) gives the runs of a worker that was killed an outcome, resuming or carrying on their sessions',
  usage: 'worker-stopped --run ID [--also RUN ...]',
  options: { run: { type: 'string' }, also: { type: 'string', multiple: true } },
  optionHelp: [
    "--run ID     the caller's run of the worker unit that stopped ($SERVICE_RESULT, $EXIT_CODE and $EXIT_STATUS say how)",
    '--also RUN   the run of another session of its --all-ssh',
  ],
  async run(ctx, values) {
    const runIds = {
      caller: String(values.run),
      others: (values.also as string[] | undefined) ?? [],
    };
    const end = {
      result: process.env.SERVICE_RESULT,
      code: process.env.EXIT_CODE,
      status: process.env.EXIT_STATUS,
    };
    if (await settleStoppedWorker(ctx, runIds, end))
      for (const runId of inDumpOrder(runIds)) await shipIfEnded(ctx, runId);
    return 0;
  },
};
