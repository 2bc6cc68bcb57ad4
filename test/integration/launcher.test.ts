import { execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { Output } from '../../src/cli/output.js';
import { renderLauncher } from '../../src/render/launcher.js';
import { waitUntil } from '../../src/tools/wait.js';

/** The launcher as the package renders it, with a stand-in for node. */
function launcherWith(dir: string, node: string): string {
  const path = join(dir, 'kernel-leap');
  writeFileSync(path, renderLauncher({ node, bundle: join(dir, 'bundle.mjs') }));
  return path;
}

/**
 * The launcher shell (templates/launcher.sh.hbs, run by /bin/sh) with a stand-in for
 * node: the first call hands off a run dir (exit 75), a "worker" adds a progress
 * line and then the outcome while the launcher polls, and the launcher ends in
 * `report`. The worker's Output writes one file per line, whole, never changed.
 */
describe('the launcher shell', () => {
  it('prints each progress line once, in order, then execs the report', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kl-launcher-'));
    const run = join(dir, 'runs', 'R1');
    mkdirSync(run, { recursive: true });
    const out = new Output(false, false, process.stdout, {
      write: () => true,
    } as unknown as NodeJS.WritableStream);
    out.mirrorTo(join(run, 'progress'));
    out.progress({ phase: 'plan', state: 'start' });
    out.progress({ phase: 'plan', state: 'done', durationMs: 5 });
    out.progress({ phase: 'dump', state: 'start' });
    expect(readdirSync(join(run, 'progress')).sort()).toEqual(['1', '2', '3']);

    const fakeNode = join(dir, 'node');
    writeFileSync(
      fakeNode,
      [
        '#!/bin/sh',
        'if [ "$2" = report ]; then echo "report $3 $4 $5"; exit 0; fi',
        `printf %s ${run} > "$KERNEL_LEAP_HANDOFF"`,
        `( sleep 0.6; echo '✔ dump (2 s)' > ${run}/progress/.4; mv ${run}/progress/.4 ${run}/progress/4; sleep 0.6; echo restored > ${run}/outcome ) &`,
        'exit 75',
      ].join('\n'),
    );
    chmodSync(fakeNode, 0o755);
    const printed = execFileSync('/bin/sh', [launcherWith(dir, fakeNode), 'upgrade'], {
      env: { PATH: process.env.PATH ?? '' },
      timeout: 20_000,
    }).toString();
    expect(printed.split('\n').filter(Boolean)).toEqual([
      '▶ plan',
      '✔ plan (5 ms)',
      '▶ dump',
      '✔ dump (2 s)',
      'report --run R1 --exit-status',
    ]);
  });

  it('turns Ctrl-C into a cancel request for the worker, and keeps waiting for the outcome, with what was typed off its command line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kl-launcher-'));
    const run = join(dir, 'runs', 'R2');
    mkdirSync(join(run, 'progress'), { recursive: true });
    const fakeNode = join(dir, 'node');
    writeFileSync(
      fakeNode,
      [
        '#!/bin/sh',
        'if [ "$2" = report ]; then echo "report $3 $4"; exit 0; fi',
        // As Node does: the words from the launcher's root-only file, which it then removes.
        `echo "$* $(stat -c %a "$KERNEL_LEAP_ARGV")" > ${run}/argv && tr '\\0' '\\n' < "$KERNEL_LEAP_ARGV" >> ${run}/argv`,
        'rm "$KERNEL_LEAP_ARGV"',
        `printf %s ${run} > "$KERNEL_LEAP_HANDOFF"`,
        'exit 75',
      ].join('\n'),
    );
    chmodSync(fakeNode, 0o755);
    const typed = ['upgrade', '--pre', 'echo S3CR3T; sleep 5', '--set', 's3.prefix=a b'];
    const script = launcherWith(dir, fakeNode);
    const launcher = spawn('/bin/sh', [script, ...typed], {
      env: { PATH: process.env.PATH ?? '' },
      detached: true,
    });
    let printed = '';
    launcher.stdout.on('data', (chunk: Buffer) => (printed += chunk.toString()));
    const ended = new Promise<number | null>((done) => launcher.once('exit', (code) => done(code)));
    await waitUntil(
      () => existsSync(join(dir, 'runs')) && printed === '' && launcher.exitCode === null,
      5000,
      'the launcher to wait',
      '',
    );
    await new Promise((r) => setTimeout(r, 500));
    // Node got every word whole, from a 0600 file, and no command line of the launcher holds them.
    expect(readFileSync(join(run, 'argv'), 'utf8')).toBe(
      `${join(dir, 'bundle.mjs')} 600\n${typed.join('\n')}\n`,
    );
    const cmdline = readFileSync(`/proc/${launcher.pid}/cmdline`, 'utf8');
    expect(cmdline.split('\0')).toEqual(['/bin/sh', script, '']);
    process.kill(-(launcher.pid as number), 'SIGINT');
    await waitUntil(() => existsSync(join(run, 'cancel')), 5000, 'the cancel request', '');
    expect(launcher.exitCode).toBeNull();
    writeFileSync(join(run, 'outcome'), 'aborted\n');
    expect(await ended).toBe(0);
    expect(printed).toContain('cancel requested');
    expect(printed).toContain('report --run R2');
  });
});
