import { existsSync, readFileSync } from 'node:fs';

import { ExitCode } from '../../errors.js';
import { Journal } from '../../state/journal.js';
import { readOutcome } from '../../state/outcome.js';
import { pendingPath } from '../../state/pending.js';
import { PHASES } from '../../state/phase-table.js';
import type { Command } from '../command.js';
import { formatDuration, formatTable } from '../output.js';

export const statusCommand: Command = {
  name: 'status',
  needsRoot: true,
  summary: 'show the latest run and each phase',
  usage: 'status [--run ID]',
  options: { run: { type: 'string' } },
  optionHelp: ['--run ID         a run id (default: latest)'],
  async run(ctx, values) {
    const journal = Journal.open(ctx.config.paths.state_dir, values.run as string | undefined);
    const pending = pendingPath(ctx.config.paths.state_dir);
    const data = journal.snapshot;
    const status = {
      runId: data.runId,
      command: data.command,
      createdAt: data.createdAt,
      outcome: readOutcome(journal.paths.dir) ?? 'in progress',
      pendingRestore: existsSync(pending) ? readFileSync(pending, 'utf8').trim() : null,
      phases: data.phases,
      artefacts: data.artefacts,
    };
    ctx.out.result(status, (s, width) =>
      [
        `run ${s.runId} (${s.command}, started ${s.createdAt}): ${s.outcome}`,
        `pending restore at next boot: ${s.pendingRestore ?? 'none'}`,
        '',
        formatTable(
          ['phase', 'status', 'took'],
          PHASES.map((name) => {
            const p = s.phases[name];
            return [name, p.status, p.durationMs === undefined ? '' : formatDuration(p.durationMs)];
          }),
          width,
        ),
      ].join('\n'),
    );
    return ExitCode.ok;
  },
};
