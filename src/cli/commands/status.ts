import { existsSync, readFileSync } from 'node:fs';

import { ExitCode, isLeapError } from '../../errors.js';
import { type AutoRecord, readAutoRecord } from '../../state/auto.js';
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
    const stateDir = ctx.config.paths.state_dir;
    const auto = readAutoRecord(stateDir) ?? null;
    let journal: Journal;
    try {
      journal = Journal.open(stateDir, values.run as string | undefined);
    } catch (error) {
      // auto may have decided (to wait) before any run was made.
      if (!auto || !isLeapError(error) || error.code !== 'NO_RUNS') throw error;
      ctx.out.result({ auto }, (s) => autoLine(s.auto));
      return ExitCode.ok;
    }
    const pending = pendingPath(stateDir);
    const data = journal.snapshot;
    const status = {
      runId: data.runId,
      command: data.command,
      createdAt: data.createdAt,
      outcome: readOutcome(journal.paths.dir) ?? 'in progress',
      pendingRestore: existsSync(pending) ? readFileSync(pending, 'utf8').trim() : null,
      phases: data.phases,
      artefacts: data.artefacts,
      auto,
    };
    ctx.out.result(status, (s, width) =>
      [
        `run ${s.runId} (${s.command}, started ${s.createdAt}): ${s.outcome}`,
        `pending restore at next boot: ${s.pendingRestore ?? 'none'}`,
        ...(s.auto ? [autoLine(s.auto)] : []),
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

function autoLine(record: AutoRecord): string {
  return `last auto decision (${record.at}): ${record.action}: ${record.reason}${record.runs ? ` [run ${record.runs.join(', ')}]` : ''}`;
}
