/**
 * What the runs started since an instant say, for a person and for a fleet tool
 * (the Ansible role): each run's outcome, whether it is settled (its final
 * outcome, report and upload through), what it left behind, where its report and
 * logs are; and what they say together (the worst outcome, the sessions carried
 * and lost). Pure reading of the state dir: `runs --since` polls it.
 */
import { existsSync, readdirSync, readlinkSync } from 'node:fs';
import { basename, join } from 'node:path';

import type { Config } from '../../config/schema.js';
import { type JournalData, parseJournalFile, runPaths } from '../../state/journal.js';
import { isFinal, readOutcome, worstOutcome } from '../../state/outcome.js';
import { PHASES } from '../../state/phase-table.js';
import { oneLine } from '../../tools/criu.js';
import { describeLoss } from '../plan/losses.js';
import { buildReport } from './report.js';
import { s3Prefix } from './upload.js';

/** Journaled by the worker in a run of --all-ssh whose session logged out before or under its dump: it had nothing to carry. */
export const SESSION_ENDED_MARK = 'session.ended';

export interface RunResult {
  runId: string;
  command: string | null;
  createdAt: string | null;
  /** The run's outcome; `in progress` before it has one, `unreadable` with no journal to read. */
  outcome: string;
  /** The outcome is final (state/outcome.ts). */
  final: boolean;
  /** Final, its report written and its upload no longer under way: nothing about it changes by itself. */
  settled: boolean;
  /** The run of the session that typed the command (the state dir's `latest`). */
  caller: boolean;
  /** The session's terminals, pts/N. */
  ptys: number[];
  /** A session of --all-ssh that ended before its dump: nothing was carried, nothing lost. */
  endedBeforeDump: boolean;
  oldKernel: string | null;
  newKernel: string | null;
  downtimeMs: number | null;
  remapped: string[];
  /** What the kexec ends that this run does not carry, as its plan found it. */
  leftBehind: Array<{ kind: string; pid: number; text: string }>;
  /** Why it did not go: the rehearsal's no-go and each phase's error, one line each. */
  reasons: string[];
  /** report.json, once written. */
  report: string | null;
  /** s3://bucket/prefix/ of its logs: where they are, or where `upload-logs` will put them; none while uploads are off. */
  s3: string | null;
  uploaded: boolean;
}

/** The runs whose id sorts at or after `stamp` (state/journal.ts's runStamp), oldest first. */
export function runsSince(stateDir: string, stamp: string, s3: Config['s3']): RunResult[] {
  const dir = join(stateDir, 'runs');
  if (!existsSync(dir)) return [];
  const latest = latestRun(stateDir);
  return readdirSync(dir)
    .filter((runId) => runId >= stamp)
    .sort()
    .map((runId) => describeRun(stateDir, runId, runId === latest, s3));
}

function latestRun(stateDir: string): string | undefined {
  try {
    return basename(readlinkSync(join(stateDir, 'latest')));
  } catch {
    return undefined;
  }
}

function describeRun(
  stateDir: string,
  runId: string,
  caller: boolean,
  s3: Config['s3'],
): RunResult {
  const paths = runPaths(stateDir, runId);
  const journal = parseJournalFile(paths.journal);
  const outcome = readOutcome(paths.dir) ?? (journal ? 'in progress' : 'unreadable');
  const final = isFinal(outcome);
  const report = existsSync(join(paths.dir, 'report.json')) ? join(paths.dir, 'report.json') : null;
  const facts = journal ? buildReport(journal, outcome) : undefined;
  const upload = journal?.phases.upload;
  const logs = journal ? logsAt(journal, s3) : { s3: null, uploaded: false };
  return {
    runId,
    command: journal?.command ?? null,
    createdAt: journal?.createdAt ?? null,
    outcome,
    final,
    settled:
      final && report !== null && upload?.status !== 'pending' && upload?.status !== 'running',
    caller,
    ptys: journal?.phases.plan.outputs?.ptys ?? [],
    endedBeforeDump: journal?.marks[SESSION_ENDED_MARK] !== undefined,
    oldKernel: facts?.oldKernel ?? null,
    newKernel: facts?.newKernel ?? null,
    downtimeMs: facts?.downtimeMs ?? null,
    remapped: facts?.remapped ?? [],
    leftBehind: (journal?.phases.plan.outputs?.leftBehind ?? []).map((loss) => ({
      kind: loss.kind,
      pid: loss.pid,
      text: describeLoss(loss),
    })),
    reasons: journal ? reasonsOf(journal) : [`${paths.journal} is missing or unreadable`],
    report,
    ...logs,
  };
}

function logsAt(journal: JournalData, s3: Config['s3']): { s3: string | null; uploaded: boolean } {
  const upload = journal.phases.upload;
  const done = upload.outputs;
  if (upload.status === 'done' && done?.bucket && done.prefix)
    return { s3: `s3://${done.bucket}/${done.prefix}/`, uploaded: true };
  if (done?.skipped || !s3.bucket) return { s3: null, uploaded: false };
  return { s3: `s3://${s3.bucket}/${s3Prefix(s3, journal.runId)}/`, uploaded: false };
}

function reasonsOf(journal: JournalData): string[] {
  const rehearsal = journal.phases.rehearse.outputs;
  const noGo = rehearsal?.verdict === 'no-go' ? (rehearsal.reasons ?? []) : [];
  const errors = PHASES.flatMap((name) => {
    const error = journal.phases[name].error;
    return error ? [`${name}: ${error.message}`] : [];
  });
  return [...new Set([...noGo, ...errors].map(oneLine))];
}

/** What the runs say together: a host's result after its leap, or its rehearsal. */
export interface RunsSummary {
  /** The worst final outcome of the runs that count; `in progress` while one has none; null with no run. */
  outcome: string | null;
  /** Sessions back on the new kernel. */
  carried: number;
  /** Sessions the kexec ended: those not restored, and other users' ssh sessions not carried. */
  lost: string[];
  /** Processes of carried login sessions outside their trees (a tmux server, a nohup job) that the kexec ended. */
  processesLeftBehind: string[];
  /** The longest pause of a restored session. */
  downtimeMs: number | null;
  remapped: string[];
  /** Why the runs that count did not end restored or rehearsed. */
  reasons: string[];
  /** Runs of sessions that logged out before their dump: they do not count. */
  endedBeforeDump: string[];
}

/** Outcomes written on a boot after the dump: the kexec (or another boot) ended what was not carried. */
const AFTER_THE_DUMP: ReadonlySet<string> = new Set(['restored', 'failed', 'interrupted']);

export function summarize(runs: readonly RunResult[]): RunsSummary {
  const counted = runs.filter((r) => !r.endedBeforeDump);
  const kexeced = counted.filter((r) => AFTER_THE_DUMP.has(r.outcome));
  const losses = uniqueLosses(kexeced);
  const downtimes = counted.flatMap((r) =>
    r.outcome === 'restored' && r.downtimeMs !== null ? [r.downtimeMs] : [],
  );
  const outcome = togetherOutcome(counted);
  return {
    outcome,
    carried: counted.filter((r) => r.outcome === 'restored').length,
    lost: [
      ...kexeced
        .filter((r) => r.outcome !== 'restored')
        .map((r) => `${sessionOf(r)} (run ${r.runId}: ${r.outcome})`),
      ...losses.filter((l) => l.kind === 'ssh-session').map((l) => l.text),
    ],
    processesLeftBehind: losses.filter((l) => l.kind !== 'ssh-session').map((l) => l.text),
    downtimeMs: downtimes.length > 0 ? Math.max(...downtimes) : null,
    remapped: counted.flatMap((r) => r.remapped),
    reasons:
      outcome === 'restored' || outcome === 'rehearsed'
        ? []
        : [...new Set(counted.flatMap((r) => r.reasons))],
    endedBeforeDump: runs.filter((r) => r.endedBeforeDump).map((r) => r.runId),
  };
}

function togetherOutcome(counted: readonly RunResult[]): string | null {
  const finals = counted.flatMap((r) => (isFinal(r.outcome) ? [r.outcome] : []));
  if (finals.length < counted.length) return 'in progress';
  return worstOutcome(finals) ?? null;
}

/** Every run of a leap recorded the same losses: each once. */
function uniqueLosses(runs: readonly RunResult[]): RunResult['leftBehind'] {
  const seen = new Map(runs.flatMap((r) => r.leftBehind).map((l) => [`${l.kind} ${l.pid}`, l]));
  return [...seen.values()];
}

export function sessionOf(run: RunResult): string {
  return run.ptys.map((n) => `pts/${n}`).join(', ') || 'no tty';
}
