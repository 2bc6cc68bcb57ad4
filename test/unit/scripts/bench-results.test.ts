import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import type { DowntimeOptions, Kind } from '../../../scripts/bench-options.js';
import {
  againstOneIdleSession,
  type BenchResults,
  pairsOf,
  parseLoadAverage,
  resultsName,
  resultsTable,
  roundFigure,
  type RoundRun,
  summarize,
  summaryLines,
  writeResults,
} from '../../../scripts/bench-results.js';

const LOAD = { one: 0.5, five: 0.6, fifteen: 0.7 };

/** A round whose sessions had these tooldowns (ms), after a 20 s jump. */
function run(round: number, kind: Kind, tooldowns: Array<number | undefined>): RoundRun {
  return {
    round,
    kind,
    from: '6.1.0-55-cloud-amd64',
    to: '6.1.0-56-cloud-amd64',
    startedAt: '2026-12-07T06:00:00.000Z',
    loadBefore: LOAD,
    loadAfter: { one: 1.25, five: 0.8, fifteen: 0.71 },
    sessions: tooldowns.map((ms, i) => ({
      tty: `pts/${i}`,
      downtimeMs: (ms ?? 0) + 20_000,
      ...(ms === undefined ? {} : { jumpMs: 20_000, tooldownMs: ms }),
      steps: [['dump', 1200]],
    })),
    boot: 'cmdline: console=ttyS0',
  };
}

function options(over: Partial<DowntimeOptions> = {}): DowntimeOptions {
  return {
    rounds: 2,
    kinds: ['floor', 'leap'],
    sessions: 1,
    memMib: 0,
    outDir: 'docs/bench',
    ...over,
  };
}

function results(runs: RoundRun[], over: Partial<BenchResults> = {}): BenchResults {
  return {
    bench: 'downtime',
    date: '2026-12-07T07:00:00.000Z',
    options: options(),
    host: {
      commit: 'abc1234',
      dirty: false,
      qemu: 'QEMU emulator version 10.0.2',
      accel: 'tcg',
      cpu: 'qemu64',
      cpus: 2,
      kernel: '6.18.0',
    },
    guest: {
      dist: 'bookworm',
      kernels: ['6.1.0-55-cloud-amd64', '6.1.0-56-cloud-amd64'],
      booted: 'state',
    },
    method: ['each session runs a ticker'],
    runs,
    summary: summarize(runs),
    ...over,
  };
}

describe('bench results: the figures', () => {
  it('reads /proc/loadavg and refuses anything else', () => {
    expect(parseLoadAverage('0.61 0.75 1.43 3/172 23538\n')).toEqual({
      one: 0.61,
      five: 0.75,
      fifteen: 1.43,
    });
    expect(() => parseLoadAverage('busy')).toThrow('not a /proc/loadavg line: "busy"');
  });

  it("takes a round's figure as its longest tooldown, and none while a session's is unknown", () => {
    expect(roundFigure(run(1, 'leap', [27_900, 44_800, 30_000]))).toBe(44_800);
    expect(roundFigure(run(1, 'leap', [27_900, undefined]))).toBeUndefined();
    expect(roundFigure(run(1, 'leap', []))).toBeUndefined();
  });

  it('pairs the leap and the floor of each round, and skips a round that lacks one', () => {
    const runs = [
      run(1, 'floor', [31_500]),
      run(1, 'leap', [27_900]),
      run(2, 'floor', [28_300]),
      run(2, 'leap', [undefined]),
      run(3, 'floor', [25_000]),
      run(3, 'leap', [30_000]),
    ];
    expect(pairsOf(runs)).toEqual([
      { round: 1, leapMs: 27_900, floorMs: 31_500, ratio: 27_900 / 31_500 },
      { round: 3, leapMs: 30_000, floorMs: 25_000, ratio: 1.2 },
    ]);
  });

  it('means each kind over its rounds, and the ratio is of the means, not the mean of the ratios', () => {
    const summary = summarize([
      run(1, 'floor', [30_000]),
      run(1, 'leap', [15_000, 24_000]),
      run(2, 'floor', [10_000]),
      run(2, 'leap', [20_000, 16_000]),
    ]);
    expect(summary.meanTooldownMs).toEqual({ floor: 20_000, leap: 22_000 });
    expect(summary.meanDowntimeMs).toEqual({ floor: 40_000, leap: 42_000 });
    expect(summary.longestTooldownMs).toEqual({ floor: 30_000, leap: 24_000 });
    expect(summary.ratio).toBeCloseTo(1.1);
    expect(summary.pairs.map((p) => p.ratio)).toEqual([0.8, 2]);
  });

  it('has no ratio without both kinds', () => {
    const summary = summarize([run(1, 'floor-i', [30_000]), run(1, 'leap', [20_000])]);
    expect(summary.ratio).toBeUndefined();
    expect(summary.pairs).toEqual([]);
    expect(summary.meanTooldownMs).toEqual({ 'floor-i': 30_000, leap: 20_000 });
  });
});

describe('bench results: the files', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'kl-bench-results-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('names the files by what was measured', () => {
    expect(resultsName(options())).toBe('downtime-1-session');
    expect(resultsName(options({ sessions: 7 }))).toBe('downtime-7-sessions');
    expect(resultsName(options({ memMib: 512 }))).toBe('downtime-1-session-512-mib');
    expect(resultsName(options({ kinds: ['floor-i', 'leap'] }))).toBe(
      'downtime-1-session-floor-i-leap',
    );
  });

  it('writes the JSON with every round and the table beside it', () => {
    const runs = [run(1, 'floor', [31_500]), run(1, 'leap', [27_900])];
    const written = writeResults(results(runs, { options: options({ outDir: dir }) }));
    expect(written).toEqual({
      json: join(dir, 'downtime-1-session.json'),
      table: join(dir, 'downtime-1-session.md'),
    });
    const json = JSON.parse(readFileSync(written.json, 'utf8')) as BenchResults;
    expect(json.runs).toEqual(runs);
    expect(json.options.outDir).toBe(dir);
    expect(json.summary.pairs).toHaveLength(1);
    const table = readFileSync(written.table, 'utf8');
    expect(table).toContain('# Downtime: 1 session');
    expect(table).toContain('commit abc1234; QEMU emulator version 10.0.2, accel tcg');
    expect(table).toContain(
      '| 1 | leap | 6.1.0-55-cloud-amd64 → 6.1.0-56-cloud-amd64 | 0.50 0.60 0.70 | 1.25 0.80 0.71 | 20.0 s | 47.9 s | **27.9 s** | 27.9 s | - |',
    );
    expect(table).toContain('- tooldown leap / floor: 0.89 (means); round by round 1: 0.89');
  });

  it('writes a stopped run beside the latest complete one, never over it', () => {
    const written = writeResults(
      results([run(1, 'floor', [31_500])], {
        options: options({ outDir: dir }),
        error: 'the memory of pts/0 changed across the leap',
      }),
    );
    expect(written.json).toBe(join(dir, 'downtime-1-session.failed.json'));
    expect(existsSync(join(dir, 'downtime-1-session.json'))).toBe(false);
    expect(readFileSync(written.table, 'utf8')).toContain(
      '**The run stopped: the memory of pts/0 changed across the leap**',
    );
  });

  it('shows each session of a round, and the memory each one checked', () => {
    const leap = run(1, 'leap', [27_000, 44_800]);
    leap.sessions.forEach(
      (s, i) =>
        (s.memory = {
          mib: 64,
          before: 'aaaaaaaa',
          after: i ? 'bbbbbbbb' : 'aaaaaaaa',
          intact: !i,
        }),
    );
    const table = resultsTable(
      results([leap], { options: options({ sessions: 2, memMib: 64, outDir: dir }) }),
    );
    expect(table).toContain('# Downtime: 2 sessions, 64 MiB each');
    expect(table).toContain('| **44.8 s** | 27.0 s, 44.8 s | 1 CHANGED |');
  });

  it('reads a run against the one idle session file, not the baseline against itself', () => {
    const base = results([run(1, 'floor', [31_500]), run(1, 'leap', [28_000])], {
      options: options({ outDir: dir }),
    });
    writeResults(base);
    const seven = summarize([run(1, 'leap', [30_000, 33_600])]);
    expect(againstOneIdleSession(dir, options({ sessions: 7, outDir: dir }), seven)).toEqual({
      file: join(dir, 'downtime-1-session.json'),
      date: base.date,
      commit: 'abc1234',
      meanMs: 28_000,
      ratio: 1.2,
    });
    expect(againstOneIdleSession(dir, options({ outDir: dir }), seven)).toBeUndefined();
    expect(
      againstOneIdleSession(join(dir, 'none'), options({ memMib: 512, outDir: dir }), seven),
    ).toBeUndefined();
  });

  it('prints the ratio, pair by pair, and for many sessions the longest tooldown', () => {
    const runs = [
      run(1, 'floor', [30_000, 40_000]),
      run(1, 'leap', [20_000, 24_000]),
      run(2, 'floor', [30_000, 32_000]),
      run(2, 'leap', [24_000, 16_000]),
    ];
    const lines = summaryLines(results(runs, { options: options({ sessions: 2 }) }));
    expect(lines).toEqual([
      "mean tooldown (a round's longest): floor 36.0 s, leap 24.0 s",
      'mean downtime, jump included: floor 56.0 s, leap 44.0 s',
      'longest tooldown of any of the 2 sessions: floor 40.0 s, leap 24.0 s',
      'ratio tooldown leap / floor: 0.67 (means); pair by pair: round 1 24.0 s / 40.0 s = 0.60; round 2 24.0 s / 32.0 s = 0.75',
    ]);
  });
});
