import { release } from 'node:os';

import { awaitRuns } from '../../engine/await-runs.js';
import { ExitCode, LeapError } from '../../errors.js';
import { runStamp } from '../../state/journal.js';
import { listRuns, prunable, removeImages } from '../../state/runs.js';
import {
  type RunResult,
  type RunsSummary,
  sessionOf,
  summarize,
} from '../../steps/report/run-results.js';
import type { Command, CommandContext, ParsedValues } from '../command.js';
import { formatDuration, formatTable } from '../output.js';
import { exitCodeFor } from './report.js';

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

export const runsCommand: Command = {
  name: 'runs',
  needsRoot: true,
  summary:
    'list the runs: id, started, outcome, size of the images; with --since, how the runs since then ended',
  usage: 'runs [--since STAMP [--wait SECONDS]]',
  options: { since: { type: 'string' }, wait: { type: 'string' } },
  optionHelp: [
    '--since STAMP    only the runs started at or after STAMP (UTC: `date -u +%Y%m%dT%H%M%SZ`, or ISO 8601), each with its outcome, what it left behind, its report and S3 key, and what they say together; exit 0 all restored or rehearsed (or none), 3 a no-go, 8 a restore failed, 1 another end, 4 one still under way',
    '--wait SECONDS   with --since: wait up to SECONDS until each of those runs is settled (its final outcome, report and upload), saying what it waits for',
  ],
  async run(ctx, values) {
    if (values.since === undefined) {
      if (values.wait !== undefined) throw usage('--wait needs --since STAMP');
      return listAll(ctx);
    }
    return runsSinceCommand(ctx, parseSince(values.since as string), parseWait(values));
  },
};

function listAll(ctx: CommandContext): number {
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
}

async function runsSinceCommand(
  ctx: CommandContext,
  since: string,
  waitMs: number,
): Promise<number> {
  const awaited = await awaitRuns(ctx.out, {
    stateDir: ctx.config.paths.state_dir,
    s3: ctx.config.s3,
    since,
    timeoutMs: waitMs,
  });
  const summary = summarize(awaited.runs);
  // The kernel running now: after a leap, the one it leapt to.
  ctx.out.result({ since, kernel: release(), ...awaited, ...summary }, renderSince);
  if (!awaited.done) return ExitCode.underWay;
  return summary.outcome === null ? ExitCode.ok : exitCodeFor(summary.outcome);
}

type SinceResult = { since: string; runs: RunResult[]; done: boolean } & RunsSummary;

function renderSince(r: SinceResult, width: number | undefined): string {
  if (r.runs.length === 0) return `no run since ${r.since}`;
  const table = formatTable(
    ['run', 'outcome', 'session', 'downtime', 'logs'],
    r.runs.map((run) => [
      run.runId + (run.caller ? ' *' : ''),
      run.endedBeforeDump ? `${run.outcome} (ended before its dump)` : run.outcome,
      sessionOf(run),
      run.downtimeMs === null ? '-' : formatDuration(run.downtimeMs),
      logsOf(run),
    ]),
    width,
  );
  return [
    `since ${r.since}: ${r.outcome ?? 'no run that counts'}${r.done ? '' : ' (not settled)'}, ${r.carried} carried`,
    ...r.reasons.map((reason) => `  why: ${reason}`),
    ...r.lost.map((lost) => `  lost: ${lost}`),
    ...r.processesLeftBehind.map((left) => `  left behind: ${left}`),
    '',
    table,
    '(* the session that ran the command)',
  ].join('\n');
}

function logsOf(run: RunResult): string {
  if (run.s3) return run.uploaded ? run.s3 : `${run.s3} (spooled)`;
  return run.report ?? '-';
}

/** Run ids start with a UTC stamp; STAMP is one, or an ISO 8601 instant with its zone. */
export function parseSince(text: string): string {
  if (/^\d{8}T\d{6}Z$/.test(text)) return text;
  const at = /(Z|[+-]\d{2}:?\d{2})$/.test(text) ? new Date(text) : undefined;
  if (at === undefined || Number.isNaN(at.getTime()))
    throw usage(
      `--since ${JSON.stringify(text)} is not a UTC stamp`,
      'give YYYYMMDDTHHMMSSZ as `date -u +%Y%m%dT%H%M%SZ` prints it, or an ISO 8601 instant with its zone, e.g. 2026-12-06T10:00:00Z',
    );
  return runStamp(at);
}

function parseWait(values: ParsedValues): number {
  if (values.wait === undefined) return 0;
  const text = values.wait as string;
  if (!/^\d+$/.test(text))
    throw usage(`--wait ${JSON.stringify(text)} is not a number of seconds`, 'e.g. --wait 600');
  return Number(text) * 1000;
}

function usage(message: string, hint = 'see: kernel-leap runs --help'): LeapError {
  return new LeapError('USAGE', `kernel-leap runs: ${message}`, { hint, exit: ExitCode.usage });
}

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
