import { ExitCode } from '../../errors.js';
import { Journal } from '../../state/journal.js';
import { readOutcome } from '../../state/outcome.js';
import { buildReport, type Report } from '../../steps/report/report.js';
import { printable } from '../../tools/printable.js';
import type { Command, CommandContext } from '../command.js';
import { formatDuration, formatTable } from '../output.js';

export const reportCommand: Command = {
  name: 'report',
  needsRoot: true,
  summary: 'the outcome, the kernels, the remaps and the timeline of a run',
  usage: 'report [--run ID] [--exit-status]',
  options: { run: { type: 'string' }, 'exit-status': { type: 'boolean' } },
  optionHelp: [
    '--run ID         a run id (default: latest)',
    "--exit-status    exit with the run's outcome (0 restored, 8 restore failed, 1 otherwise)",
  ],
  async run(ctx, values) {
    const outcome = printRunReport(ctx, values.run as string | undefined);
    return values['exit-status'] ? exitCodeFor(outcome) : ExitCode.ok;
  },
};

export function printRunReport(ctx: CommandContext, runId: string | undefined): string {
  const journal = Journal.open(ctx.config.paths.state_dir, runId);
  const report = buildReport(journal.snapshot, readOutcome(journal.paths.dir));
  ctx.out.result(report, renderReport);
  return report.outcome;
}

export function exitCodeFor(outcome: string): number {
  if (outcome === 'restored' || outcome === 'rehearsed' || outcome === 'dumped') return ExitCode.ok;
  if (outcome === 'no-go') return ExitCode.noGo;
  return outcome === 'failed' ? ExitCode.restoreFailed : ExitCode.failure;
}

const ms = (value: number | undefined) => (value === undefined ? '-' : formatDuration(value));

/** Each line made printable on its own: what was degraded or left behind names other users' paths and command lines. */
export function renderReport(r: Report, width?: number): string {
  const head = [
    `run ${r.runId} on ${r.host}: ${r.outcome}`,
    `kernel: ${r.oldKernel ?? '?'} -> ${r.newKernel ?? '?'}${r.kernelChosen ? ` (${r.kernelChosen})` : ''}`,
    `session root: ${r.sessionRoot ?? '?'}${r.restored ? `, now pid ${String(r.restored.rootPidHost)} (pid ${String(r.restored.rootPidInNs)} in its namespace), enter with: ${String(r.restored.nsenter)}` : ''}`,
    `downtime: ${ms(r.downtimeMs)} (freeze to kexec ${ms(r.freezeToExecMs)})`,
    ...(r.remapped.length ? [`remapped: ${r.remapped.join(', ')}`] : []),
    ...(r.degraded.length ? [`degraded: ${r.degraded.join('; ')}`] : []),
    ...r.addresses.map((address) => `address: ${address}`),
    ...r.leftBehind.map((loss) => `left behind: ${loss}`),
  ].map(printable);
  const timeline = formatTable(
    ['event', 'at', '+since freeze'],
    r.timeline.map((t) => [t.name, t.at.slice(11, 23), ms(t.sinceFreezeMs)]),
    width,
  );
  const phases = formatTable(
    ['phase', 'status', 'took'],
    r.phases
      .filter((p) => p.status !== 'pending')
      .map((p) => [
        p.name,
        p.status + (p.error ? `: ${p.error.split('\n')[0]}` : ''),
        ms(p.durationMs),
      ]),
    width,
  );
  const hints = r.phases
    .filter((p) => p.hint)
    .map((p) => printable(`what to do (${p.name}): ${p.hint}`));
  return [...head, '', timeline, '', phases, ...(hints.length ? ['', ...hints] : [])].join('\n');
}
