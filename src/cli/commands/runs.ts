import { ExitCode } from '../../errors.js';
import { listRuns, prunable, removeImages } from '../../state/runs.js';
import type { Command } from '../command.js';
import { formatTable } from '../output.js';

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

export const runsCommand: Command = {
  name: 'runs',
  needsRoot: true,
  summary: 'list the runs: id, started, outcome, size of the images',
  usage: 'runs',
  options: {},
  optionHelp: [],
  async run(ctx) {
    const runs = listRuns(ctx.config.paths.state_dir);
    ctx.out.result({ runs }, (r, width) =>
      r.runs.length === 0
        ? 'no run recorded'
        : formatTable(
            ['run', 'started', 'outcome', 'images'],
            r.runs.map((run) => [
              run.runId,
              run.createdAt ?? '?',
              run.pending ? `${run.outcome} (pending restore)` : run.outcome,
              run.imagesBytes > 0 ? mib(run.imagesBytes) : '-',
            ]),
            width,
          ),
    );
    return ExitCode.ok;
  },
};

export const pruneCommand: Command = {
  name: 'prune',
  needsRoot: true,
  summary: 'delete the images no run needs any more (journals, logs and reports stay)',
  usage: 'prune [--failed] [--dry-run]',
  options: { failed: { type: 'boolean' }, 'dry-run': { type: 'boolean' } },
  optionHelp: [
    '--failed         also the images of failed and interrupted runs (kept by default: a post-mortem or a restore by hand needs them)',
    '--dry-run        list what would be deleted, and delete nothing',
  ],
  async run(ctx, values) {
    const stateDir = ctx.config.paths.state_dir;
    const dryRun = values['dry-run'] === true;
    const pruned = prunable(listRuns(stateDir), values.failed === true).map((run) => ({
      runId: run.runId,
      outcome: run.outcome,
      freedBytes: dryRun ? run.imagesBytes : removeImages(stateDir, run.runId),
    }));
    const freed = pruned.reduce((total, p) => total + p.freedBytes, 0);
    ctx.out.result({ dryRun, pruned, freedBytes: freed }, (r) =>
      r.pruned.length === 0
        ? 'nothing to prune'
        : [
            ...r.pruned.map((p) => `${p.runId} (${p.outcome}): ${mib(p.freedBytes)}`),
            r.dryRun
              ? `would free ${mib(freed)} (dry run: nothing deleted)`
              : `freed ${mib(freed)}`,
          ].join('\n'),
    );
    return ExitCode.ok;
  },
};
