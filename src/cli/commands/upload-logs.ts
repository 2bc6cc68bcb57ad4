import { shipRun } from '../../engine/ship.js';
import { ExitCode } from '../../errors.js';
import { spooledRuns } from '../../steps/report/upload.js';
import type { Command } from '../command.js';

export const uploadLogsCommand: Command = {
  name: 'upload-logs',
  needsRoot: true,
  summary: 'ship the spooled logs of runs to S3',
  usage: 'upload-logs [--run ID]',
  options: { run: { type: 'string' } },
  optionHelp: ['--run ID         only this run (default: every spooled run)'],
  async run(ctx, values) {
    const stateDir = ctx.config.paths.state_dir;
    const runs = typeof values.run === 'string' ? [values.run] : spooledRuns(stateDir);
    let failed = 0;
    for (const runId of runs) if (!(await shipRun(ctx, runId))) failed++;
    ctx.out.result({ runs, failed }, () =>
      runs.length === 0
        ? 'nothing spooled'
        : `${runs.length - failed} of ${runs.length} runs shipped`,
    );
    return failed === 0 ? ExitCode.ok : ExitCode.failure;
  },
};
