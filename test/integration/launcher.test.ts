import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Output } from '../../src/cli/output.js';

/**
 * The launcher shell (scripts/kernel-leap, run by /bin/sh) with a stand-in for
 * node: the first call hands off a run dir (exit 75), a "worker" adds a progress
 * line and then the outcome while the launcher polls, and the launcher ends in
 * `report`. The worker's Output writes one file per line, whole, never changed.
 */
describe('the launcher shell', () => {
  it('prints each progress line once, in order, then execs the report', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kl-launcher-'));
    const run = join(dir, 'runs', 'R1');
    mkdirSync(run, { recursive: true });
    const out = new Output(false, false, process.stdout, { write: () => true } as unknown as NodeJS.WritableStream);
    out.mirrorTo(join(run, 'progress'));
    out.progress({ phase: 'plan', state: 'start' });
    out.progress({ phase: 'plan', state: 'done', durationMs: 5 });
    out.progress({ phase: 'dump', state: 'start' });
    expect(readdirSync(join(run, 'progress')).sort()).toEqual(['1', '2', '3']);

    const fakeNode = join(dir, 'node');
    writeFileSync(fakeNode, [
      '#!/bin/sh',
      'if [ "$2" = report ]; then echo "report $3 $4 $5"; exit 0; fi',
      `printf %s ${run} > "$KERNEL_LEAP_HANDOFF"`,
      `( sleep 0.6; echo '✔ dump (2 s)' > ${run}/progress/.4; mv ${run}/progress/.4 ${run}/progress/4; sleep 0.6; echo restored > ${run}/outcome ) &`,
      'exit 75',
    ].join('\n'));
    chmodSync(fakeNode, 0o755);
    const printed = execFileSync('/bin/sh', [resolve('scripts/kernel-leap'), 'upgrade'], { env: { PATH: process.env.PATH ?? '', KERNEL_LEAP_NODE: fakeNode, KERNEL_LEAP_BUNDLE: 'bundle.mjs' }, timeout: 20_000 }).toString();
    expect(printed.split('\n').filter(Boolean)).toEqual(['▶ plan', '✔ plan (5 ms)', '▶ dump', '✔ dump (2 s)', 'report --run R1 --exit-status']);
  });
});
