import { inDumpOrder } from '../../engine/leap.js';
import { shipIfEnded } from '../../engine/ship.js';
import { runWorkerAndShip, workerRuns } from '../../engine/worker-run.js';
import { settleStoppedWorker } from '../../engine/worker-settle.js';
import { ExitCode, LeapError } from '../../errors.js';
import { readWorkerInput, type WorkerInput } from '../../state/worker-input.js';
import type { Command, ParsedValues } from '../command.js';

const INPUT_OPTION = { input: { type: 'string' } } as const;

/**
 * `--input FILE`: what `upgrade` wrote for its worker, in the caller's run dir.
 * Nothing else comes on the command line, which every user can read.
 */
function workerInput(values: ParsedValues): WorkerInput {
  if (typeof values.input !== 'string')
    throw new LeapError('USAGE', 'the worker needs --input FILE', {
      hint: 'the upgrade command starts the worker; do not run it by hand',
      exit: ExitCode.usage,
    });
  return readWorkerInput(values.input);
}

/** The foreground's config, as it was: the unit inherits neither its flags nor its environment. */
function configOfInput(values: ParsedValues) {
  const { config } = workerInput(values);
  return { file: config.file, overrides: config.overrides, env: {} };
}

/** Internal: started by `upgrade` and `rehearse` through systemd-run, outside the session. */
export const workerCommand: Command = {
  name: 'worker',
  needsRoot: true,
  internal: true,
  summary: '(internal) the detached worker that rehearses, dumps and kexecs',
  usage: 'worker --input FILE',
  options: INPUT_OPTION,
  optionHelp: [
    "--input FILE     the runs, the options, --pre and the config's overrides, as upgrade wrote them (0600, in the caller's run dir)",
  ],
  configFrom: configOfInput,
  async run(ctx, values) {
    const { worker } = workerInput(values);
    return runWorkerAndShip(ctx, worker);
  },
};

/**
 * Internal: the worker unit's ExecStopPost=, for a worker that died without an
 * outcome. It runs only when the run has neither an outcome nor the pending mark.
 */
export const workerStoppedCommand: Command = {
  name: 'worker-stopped',
  needsRoot: true,
  internal: true,
  summary:
    '(internal) gives the runs of a worker that was killed an outcome, resuming or carrying on their sessions',
  usage: 'worker-stopped --input FILE',
  options: INPUT_OPTION,
  optionHelp: [
    "--input FILE     the worker's input: the caller's run and the other runs of its --all-ssh ($SERVICE_RESULT, $EXIT_CODE and $EXIT_STATUS say how its unit stopped)",
  ],
  configFrom: configOfInput,
  async run(ctx, values) {
    const { worker } = workerInput(values);
    const runIds = workerRuns(worker);
    const end = {
      result: process.env.SERVICE_RESULT,
      code: process.env.EXIT_CODE,
      status: process.env.EXIT_STATUS,
    };
    if (await settleStoppedWorker(ctx, runIds, end, worker.dumpBoundMs))
      for (const runId of inDumpOrder(runIds)) await shipIfEnded(ctx, runId);
    return 0;
  },
};
