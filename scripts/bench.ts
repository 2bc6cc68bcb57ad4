// `npm run bench`: prints figures for the parts that count against the session's
// downtime and that run on the host: the CLI's cold start, a journal write
// (temp + fsync + rename + dir fsync), and the pure plan on the /proc snapshot recorded in the test guest.
// `npm run bench -- downtime`: the leap against the floor in a guest (bench-downtime.ts).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Journal } from '../src/state/journal.js';
import { plan } from '../src/steps/plan/classify.js';
import { collectFacts } from '../src/steps/plan/facts.js';
import type { PlanRecording } from '../src/steps/plan/session-plan.js';
import { parseSsUnixPeers } from '../src/tools/proc-net.js';
import { snapshotProc } from '../src/tools/procfs.js';
import { benchDowntime } from './bench-downtime.js';

function timeIt(label: string, runs: number, work: () => void): void {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    work();
    samples.push(performance.now() - t);
  }
  samples.sort((a, b) => a - b);
  const median = samples[Math.floor(runs / 2)] ?? 0;
  console.log(
    `${label.padEnd(40)} median ${median.toFixed(2)} ms  min ${samples[0]?.toFixed(2)} ms  max ${samples.at(-1)?.toFixed(2)} ms  (${runs} runs)`,
  );
}

function hostFigures(): void {
  timeIt('cold start: node dist/kernel-leap.mjs --help', 10, () =>
    execFileSync(process.execPath, ['dist/kernel-leap.mjs', '--help']),
  );
  const journal = Journal.create(mkdtempSync(join(tmpdir(), 'kl-bench-')), 'bench');
  timeIt('journal: one durable phase transition', 50, () => journal.mark('bench'));
  const recording = JSON.parse(
    readFileSync(new URL('../test/fixtures/proc/ssh-session.json', import.meta.url), 'utf8'),
  ) as PlanRecording;
  const session = snapshotProc(recording.proc);
  timeIt('plan: collect facts and classify a recorded session', 200, () =>
    plan(
      collectFacts(
        session,
        recording.rootPid,
        parseSsUnixPeers(recording.ssUnix),
        new Set(recording.exclude),
      ),
    ),
  );
}

const [what, ...rest] = process.argv.slice(2);
if (what === 'downtime') await benchDowntime(rest);
else hostFigures();
