/**
 * What `npm run bench -- downtime` keeps of a run: every round's figures, the
 * options, the host's load around each round, where it ran (date, commit, QEMU,
 * accel), as JSON for machines and a markdown table beside it for people, under
 * docs/bench/ (docs/bench.md says how to read them). And the figures the end of
 * the run prints: the tooldown (a session's downtime without the kexec jump,
 * which under TCG is noise) of the leap over the floor's, as a mean and round by
 * round; the figure of a round is its longest tooldown.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import type { MemoryCheck } from './bench-memory.js';
import type { DowntimeOptions, Kind } from './bench-options.js';
import { seconds } from './bench-path.js';

/** /proc/loadavg's three averages. */
export interface LoadAverage {
  one: number;
  five: number;
  fifteen: number;
}

export function parseLoadAverage(text: string): LoadAverage {
  const [one, five, fifteen] = text.trim().split(/\s+/).map(Number);
  if ([one, five, fifteen].some((n) => n === undefined || !Number.isFinite(n)))
    throw new Error(`not a /proc/loadavg line: ${JSON.stringify(text)}`);
  return { one: one as number, five: five as number, fifteen: fifteen as number };
}

/** One carried session's figures in one round. */
export interface SessionFigures {
  /** pts/N at the start of the round. */
  tty: string;
  /** The ticker's longest gap, as the host's ssh client saw it. */
  downtimeMs: number;
  jumpMs?: number;
  /** The downtime without the jump. */
  tooldownMs?: number;
  /** kernel-leap's own figure (`report`), for the leap. */
  reportDowntimeMs?: number;
  /** Each step of the critical path, in ms. */
  steps: Array<[string, number | undefined]>;
  memory?: MemoryCheck;
}

export interface RoundRun {
  round: number;
  kind: Kind;
  from: string;
  to: string;
  startedAt: string;
  loadBefore: LoadAverage;
  /** Taken once the round's figures are read, before the memory check. */
  loadAfter: LoadAverage;
  sessions: SessionFigures[];
  /** What the new boot said about itself (command line, clocksource, soft lockups, critical chain). */
  boot: string;
}

export interface HostFacts {
  commit: string;
  /** The work tree had changes the commit does not hold. */
  dirty: boolean;
  qemu: string;
  accel: string;
  /** The guest's emulated CPU model (QEMU's -cpu). */
  cpu: string;
  cpus: number;
  kernel: string;
}

export interface GuestFacts {
  dist: string;
  kernels: [string, string];
  /** Loaded from the saved booted state, or booted cold. */
  booted: 'state' | 'cold';
}

export interface Pair {
  round: number;
  leapMs: number;
  floorMs: number;
  ratio: number;
}

export interface Summary {
  /** Per kind: the mean of the rounds' figures (their longest tooldown). */
  meanTooldownMs: Partial<Record<Kind, number>>;
  /** Per kind: the mean of the rounds' longest whole downtime, jump included. */
  meanDowntimeMs: Partial<Record<Kind, number>>;
  /** Per kind: the longest tooldown of any session in any round. */
  longestTooldownMs: Partial<Record<Kind, number>>;
  /** Mean leap over mean floor. */
  ratio?: number;
  pairs: Pair[];
  /** This run's mean leap figure over the one-session idle run's, when this is not that run and its file is there. */
  againstOneIdleSession?: {
    file: string;
    date: string;
    commit: string;
    meanMs: number;
    ratio: number;
  };
}

export interface BenchResults {
  bench: 'downtime';
  date: string;
  options: DowntimeOptions;
  host: HostFacts;
  guest: GuestFacts;
  /** How the leap and the floor carry the sessions, in words, for a reader of the file. */
  method: string[];
  runs: RoundRun[];
  summary: Summary;
  /** Why the run stopped before its rounds were done. */
  error?: string;
}

/** The figure of a round: its longest tooldown; undefined when a session's is unknown (no jump on the console). */
export function roundFigure(run: RoundRun): number | undefined {
  const all = run.sessions.map((s) => s.tooldownMs);
  if (all.length === 0 || all.some((ms) => ms === undefined)) return undefined;
  return Math.max(...(all as number[]));
}

function longestDowntime(run: RoundRun): number | undefined {
  return run.sessions.length ? Math.max(...run.sessions.map((s) => s.downtimeMs)) : undefined;
}

function mean(values: ReadonlyArray<number | undefined>): number | undefined {
  const known = values.filter((v): v is number => v !== undefined);
  return known.length ? known.reduce((a, b) => a + b, 0) / known.length : undefined;
}

function perKind(
  runs: readonly RoundRun[],
  pick: (runs: RoundRun[]) => number | undefined,
): Partial<Record<Kind, number>> {
  const kinds = [...new Set(runs.map((r) => r.kind))];
  return Object.fromEntries(
    kinds.flatMap((k) => {
      const value = pick(runs.filter((r) => r.kind === k));
      return value === undefined ? [] : [[k, value]];
    }),
  );
}

/** The leap's figure over the floor's of the same round, for each round that has both. */
export function pairsOf(runs: readonly RoundRun[]): Pair[] {
  const rounds = [...new Set(runs.map((r) => r.round))];
  return rounds.flatMap((round) => {
    const figure = (kind: Kind) => {
      const run = runs.find((r) => r.round === round && r.kind === kind);
      return run ? roundFigure(run) : undefined;
    };
    const leapMs = figure('leap');
    const floorMs = figure('floor');
    return leapMs === undefined || floorMs === undefined
      ? []
      : [{ round, leapMs, floorMs, ratio: leapMs / floorMs }];
  });
}

export function summarize(runs: readonly RoundRun[]): Summary {
  const meanTooldownMs = perKind(runs, (rs) => mean(rs.map(roundFigure)));
  const { leap, floor } = meanTooldownMs;
  return {
    meanTooldownMs,
    meanDowntimeMs: perKind(runs, (rs) => mean(rs.map(longestDowntime))),
    longestTooldownMs: perKind(runs, (rs) => {
      const known = rs.flatMap((r) => r.sessions.flatMap((s) => s.tooldownMs ?? []));
      return known.length ? Math.max(...known) : undefined;
    }),
    ...(leap !== undefined && floor !== undefined ? { ratio: leap / floor } : {}),
    pairs: pairsOf(runs),
  };
}

/** The files' name without extension: what was measured, so the runs of the issue's three figures sit side by side. */
export function resultsName(
  options: Pick<DowntimeOptions, 'sessions' | 'memMib' | 'kinds'>,
): string {
  const sessions = `${options.sessions}-session${options.sessions === 1 ? '' : 's'}`;
  const mem = options.memMib > 0 ? `-${options.memMib}-mib` : '';
  const kinds = options.kinds.join(',') === 'floor,leap' ? '' : `-${options.kinds.join('-')}`;
  return `downtime-${sessions}${mem}${kinds}`;
}

/** The baseline every other figure is read against: one idle session, the leap and the floor. */
export const ONE_IDLE_SESSION = resultsName({ sessions: 1, memMib: 0, kinds: ['floor', 'leap'] });

/**
 * This run's mean leap figure over the baseline's, read from its file in `dir`;
 * undefined for the baseline itself, or with no baseline file or no leap in either.
 */
export function againstOneIdleSession(
  dir: string,
  options: DowntimeOptions,
  summary: Summary,
): Summary['againstOneIdleSession'] {
  const file = join(dir, `${ONE_IDLE_SESSION}.json`);
  const meanMs = summary.meanTooldownMs.leap;
  if (resultsName(options) === ONE_IDLE_SESSION || meanMs === undefined || !existsSync(file))
    return undefined;
  const baseline = JSON.parse(readFileSync(file, 'utf8')) as BenchResults;
  const baseMs = baseline.summary.meanTooldownMs.leap;
  if (baseMs === undefined || baseline.error !== undefined) return undefined;
  return {
    file,
    date: baseline.date,
    commit: baseline.host.commit,
    meanMs: baseMs,
    ratio: meanMs / baseMs,
  };
}

const load = (l: LoadAverage) => `${l.one.toFixed(2)} ${l.five.toFixed(2)} ${l.fifteen.toFixed(2)}`;

function memoryCell(sessions: readonly SessionFigures[]): string {
  const checked = sessions.flatMap((s) => (s.memory ? [s.memory] : []));
  if (checked.length === 0) return '-';
  const bad = checked.filter((m) => !m.intact).length;
  return bad === 0 ? `${checked.length} intact` : `${bad} CHANGED`;
}

/** The markdown table beside the JSON: one row a round, then the summary. */
export function resultsTable(results: BenchResults): string {
  const { options, host, guest, summary } = results;
  const rows = results.runs.map((run) => {
    const tooldowns = run.sessions.map((s) => seconds(s.tooldownMs)).join(', ');
    return `| ${run.round} | ${run.kind} | ${run.from} → ${run.to} | ${load(run.loadBefore)} | ${load(run.loadAfter)} | ${seconds(run.sessions[0]?.jumpMs)} | ${seconds(longestDowntime(run))} | **${seconds(roundFigure(run))}** | ${tooldowns} | ${memoryCell(run.sessions)} |`;
  });
  const kinds = Object.keys(summary.meanTooldownMs) as Kind[];
  const base = summary.againstOneIdleSession;
  return [
    `# Downtime: ${options.sessions} session${options.sessions === 1 ? '' : 's'}${options.memMib ? `, ${options.memMib} MiB each` : ''}`,
    '',
    `\`npm run bench -- downtime --rounds ${options.rounds} --kinds ${options.kinds.join(',')} --sessions ${options.sessions} --mem ${options.memMib}\`, ${results.date}, commit ${host.commit}${host.dirty ? ' (with uncommitted changes)' : ''}; ${host.qemu}, accel ${host.accel}, guest CPU ${host.cpu}, ${host.cpus} host CPUs, host kernel ${host.kernel}; guest ${guest.dist} (${guest.kernels.join(' and ')}), ${guest.booted === 'state' ? 'loaded from the booted state' : 'booted cold'}. Figures in seconds, on the host's clock; how to read them: [docs/bench.md](../bench.md). The JSON beside this file has every step of every session.`,
    '',
    ...results.method.map((line) => `- ${line}`),
    '',
    ...(results.error ? [`**The run stopped: ${results.error}**`, ''] : []),
    '| round | kind | kernels | host load before | host load after | jump | longest downtime | longest tooldown | tooldown of each session | memory |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...rows,
    '',
    ...kinds.map(
      (k) =>
        `- ${k}: mean tooldown ${seconds(summary.meanTooldownMs[k])} (mean downtime ${seconds(summary.meanDowntimeMs[k])}), longest of any session ${seconds(summary.longestTooldownMs[k])}`,
    ),
    ...(summary.ratio === undefined
      ? []
      : [
          `- tooldown leap / floor: ${summary.ratio.toFixed(2)} (means); round by round ${summary.pairs.map((p) => `${p.round}: ${p.ratio.toFixed(2)}`).join(', ')}`,
        ]),
    ...(base
      ? [
          `- the leap's mean tooldown / one idle session's (${base.date}, commit ${base.commit}, ${seconds(base.meanMs)}): ${base.ratio.toFixed(2)}`,
        ]
      : []),
    '',
  ].join('\n');
}

/** The lines the end of the run prints. */
export function summaryLines(results: BenchResults): string[] {
  const { summary, options } = results;
  const kinds = Object.keys(summary.meanTooldownMs) as Kind[];
  const base = summary.againstOneIdleSession;
  return [
    `mean tooldown (a round's longest): ${kinds.map((k) => `${k} ${seconds(summary.meanTooldownMs[k])}`).join(', ')}`,
    `mean downtime, jump included: ${kinds.map((k) => `${k} ${seconds(summary.meanDowntimeMs[k])}`).join(', ')}`,
    ...(options.sessions > 1
      ? [
          `longest tooldown of any of the ${options.sessions} sessions: ${kinds.map((k) => `${k} ${seconds(summary.longestTooldownMs[k])}`).join(', ')}`,
        ]
      : []),
    ...(summary.ratio === undefined
      ? []
      : [
          `ratio tooldown leap / floor: ${summary.ratio.toFixed(2)} (means); pair by pair: ${summary.pairs.map((p) => `round ${p.round} ${seconds(p.leapMs)} / ${seconds(p.floorMs)} = ${p.ratio.toFixed(2)}`).join('; ')}`,
        ]),
    ...(base
      ? [
          `leap's mean tooldown / one idle session's (${base.file}, ${base.date}): ${seconds(summary.meanTooldownMs.leap)} / ${seconds(base.meanMs)} = ${base.ratio.toFixed(2)}`,
        ]
      : []),
  ];
}

/**
 * Writes NAME.json and NAME.md under the out dir; a run that stopped writes
 * NAME.failed.*, so it never replaces the latest complete figures. Returns the paths.
 */
export function writeResults(results: BenchResults): { json: string; table: string } {
  const dir = results.options.outDir;
  mkdirSync(dir, { recursive: true });
  const name = `${resultsName(results.options)}${results.error ? '.failed' : ''}`;
  const json = join(dir, `${name}.json`);
  const table = join(dir, `${name}.md`);
  writeFileSync(json, `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(table, resultsTable(results));
  return { json, table };
}
