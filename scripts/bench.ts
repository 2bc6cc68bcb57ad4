// `npm run bench`: prints figures for the parts that count against the session's
// downtime and that run on the host: the CLI's cold start, a journal write
// (temp + fsync + rename + dir fsync), and the pure plan on a /proc snapshot of an ssh session.
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Journal } from '../src/engine/journal.js';
import { collectFacts } from '../src/phases/plan-facts.js';
import { plan } from '../src/phases/plan.js';
import { snapshotProc } from '../src/tools/procfs.js';
import { sshSession } from '../test/helpers/proc-fixture.js';

function timeIt(label: string, runs: number, work: () => void): void {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    work();
    samples.push(performance.now() - t);
  }
  samples.sort((a, b) => a - b);
  const median = samples[Math.floor(runs / 2)] ?? 0;
  console.log(`${label.padEnd(40)} median ${median.toFixed(2)} ms  min ${samples[0]?.toFixed(2)} ms  max ${samples.at(-1)?.toFixed(2)} ms  (${runs} runs)`);
}

timeIt('cold start: node dist/kernel-leap.mjs --help', 10, () => execFileSync(process.execPath, ['dist/kernel-leap.mjs', '--help']));
const journal = Journal.create(mkdtempSync(join(tmpdir(), 'kl-bench-')), 'bench');
timeIt('journal: one durable phase transition', 50, () => journal.mark('bench'));
const session = snapshotProc(sshSession());
timeIt('plan: collect facts and classify a session', 200, () => plan(collectFacts(session, 441, new Map())));
