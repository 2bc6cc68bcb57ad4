/**
 * Report: the outcome, the kernels, the session's new pids, what was remapped or
 * degraded, and a timeline from the freeze to the unlock with the session's total
 * downtime. Pure: it reads a journal snapshot.
 */
import { join } from 'node:path';

import { writeFileAtomic } from '../../state/atomic.js';
import type { JournalData } from '../../state/journal.js';
import { PHASES } from '../../state/phase-table.js';
import { jsonText } from '../../tools/printable.js';
import { describeLoss } from '../plan/losses.js';

export interface TimelineEntry {
  name: string;
  at: string;
  /** ms since the freeze (negative before it). */
  sinceFreezeMs: number | undefined;
}

export interface Report {
  runId: string;
  host: string;
  command: string;
  outcome: string;
  oldKernel: string | undefined;
  newKernel: string | undefined;
  /** Why the new kernel is that one: named by --kernel, newest installed (after --pre). */
  kernelChosen: string | undefined;
  sessionRoot: number | undefined;
  restored: Record<string, unknown> | undefined;
  remapped: string[];
  degraded: string[];
  /** What became of each address the restore put back early (or found elsewhere, and waited for the network stack). */
  addresses: string[];
  /** What the kexec ended that this leap did not carry (other sessions, processes outside the tree). */
  leftBehind: string[];
  changes: JournalData['changes'];
  phases: Array<{
    name: string;
    status: string;
    startedAt?: string;
    durationMs?: number;
    error?: string;
    hint?: string;
  }>;
  timeline: TimelineEntry[];
  downtimeMs: number | undefined;
  freezeToExecMs: number | undefined;
  logs: string[];
}

const TIMELINE_ORDER = [
  'dump.freeze',
  'dump.dumped',
  'kexec',
  'kernelBoot',
  'restoreUnitStart',
  'gate.devpts',
  'gate.rules',
  'gate.addresses',
  'restoreStart',
  'restored',
  'unlocked',
  'resumed',
];

/** Marks taken on the new kernel (from its start on), whose clock is corrected by that boot's own offset. */
const NEW_BOOT_MARKS = new Set(TIMELINE_ORDER.slice(TIMELINE_ORDER.indexOf('kernelBoot')));

/** Puts every mark on the RTC's (the host's) time scale, when both boots measured their offset. */
export function correctedMarks(journal: JournalData): Record<string, string> {
  const oldOffset = journal.phases.prepare.outputs?.clockOffsetMs;
  const newOffset = journal.phases.restore.outputs?.clockOffsetMs;
  if (oldOffset === undefined || newOffset === undefined) return journal.marks;
  return Object.fromEntries(
    Object.entries(journal.marks).map(([name, at]) => [
      name,
      new Date(Date.parse(at) - (NEW_BOOT_MARKS.has(name) ? newOffset : oldOffset)).toISOString(),
    ]),
  );
}

export function buildReport(journal: JournalData, outcome: string | undefined): Report {
  const marks = correctedMarks(journal);
  const freeze = marks['dump.freeze'] ? Date.parse(marks['dump.freeze']) : undefined;
  const since = (at: string) => (freeze === undefined ? undefined : Date.parse(at) - freeze);
  const load = journal.phases.load.outputs;
  const restore = journal.phases.restore.outputs;
  // The session is back once it runs again and its connections are unlocked, not when criu
  // returns: criu leaves it stopped until every tree is restored, and a lock rule still in
  // force holds its packets, the peer then waiting for a retransmit.
  const end = latest(marks.resumed, marks.unlocked) ?? marks.restored;
  return {
    runId: journal.runId,
    host: journal.host,
    command: journal.command,
    outcome: outcome ?? inferOutcome(journal),
    oldKernel: load?.from,
    newKernel: load?.to,
    kernelChosen: load?.why,
    sessionRoot: journal.phases.plan.outputs?.rootPid,
    restored: restore
      ? {
          rootPidHost: restore.rootPidHost,
          rootPidInNs: restore.rootPidInNs,
          criuPid: restore.criuPid,
          scope: restore.scope,
          nsenter: restore.nsenter,
        }
      : undefined,
    remapped: (restore?.ptyRemaps ?? []).map((r) => `pts/${r.from} -> pts/${r.to}`),
    degraded: restore?.degraded ?? [],
    addresses: journal.changes.filter((c) => c.kind === 'early-address').map((c) => c.detail ?? ''),
    leftBehind: (journal.phases.plan.outputs?.leftBehind ?? []).map(describeLoss),
    changes: journal.changes,
    phases: PHASES.map((name) => {
      const p = journal.phases[name];
      return {
        name,
        status: p.status,
        ...(p.startedAt ? { startedAt: p.startedAt } : {}),
        ...(p.durationMs !== undefined ? { durationMs: p.durationMs } : {}),
        ...(p.error ? { error: p.error.message } : {}),
        ...(p.error?.hint ? { hint: p.error.hint } : {}),
      };
    }),
    timeline: TIMELINE_ORDER.filter((name) => marks[name]).map((name) => ({
      name,
      at: marks[name] as string,
      sinceFreezeMs: since(marks[name] as string),
    })),
    downtimeMs: freeze !== undefined && end ? Date.parse(end) - freeze : undefined,
    freezeToExecMs:
      freeze !== undefined && marks.kexec ? Date.parse(marks.kexec) - freeze : undefined,
    logs: ['logs/dump.log', 'logs/restore.log', 'logs/rehearsal.log', 'logs/commands.jsonl'],
  };
}

/** The later of two instants, either of which may be missing (a journal from before the mark). */
function latest(a: string | undefined, b: string | undefined): string | undefined {
  if (a === undefined || b === undefined) return a ?? b;
  return Date.parse(a) >= Date.parse(b) ? a : b;
}

function inferOutcome(journal: JournalData): string {
  if (journal.phases.restore.status === 'done') return 'restored';
  if (journal.phases.restore.status === 'failed') return 'failed';
  if (journal.phases.dump.status === 'failed') return 'dump-failed';
  if (journal.phases.dump.status === 'done') return 'dumped';
  return 'in progress';
}

export function writeReport(runDir: string, report: Report): void {
  writeFileAtomic(join(runDir, 'report.json'), `${jsonText(report, 2)}\n`);
}
