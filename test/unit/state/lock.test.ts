import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

import { describe, expect, it } from 'vitest';

import { tryLock } from '../../../src/state/lock.js';
import { pollUntil } from '../../helpers/poll.js';

const lockPath = () => join(mkdtempSync(join(tmpdir(), 'kl-lock-')), 'upload.lock');
const thisBoot = () => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();

describe('the run lock', () => {
  it('is exclusive while its owner lives, and free again once released', () => {
    const path = lockPath();
    const first = tryLock(path);
    expect(first.held).toBe(true);
    expect(tryLock(path)).toEqual({ held: false, owner: process.pid });
    if (first.held) first.release();
    expect(tryLock(path).held).toBe(true);
  });

  it('is taken over from an owner that died, or lived on an earlier boot', () => {
    const dead = lockPath();
    writeFileSync(dead, `4000000 ${thisBoot()}\n`);
    expect(tryLock(dead).held).toBe(true);
    expect(readFileSync(dead, 'utf8')).toBe(`${process.pid} ${thisBoot()}\n`);
    const earlierBoot = lockPath();
    writeFileSync(earlierBoot, `${process.pid} 00000000-0000-0000-0000-000000000000\n`);
    expect(tryLock(earlierBoot).held).toBe(true);
  });

  it('goes to exactly one of several processes that find it stale at once, and leaves no temp file', async () => {
    const path = lockPath();
    writeFileSync(path, `4000000 ${thisBoot()}\n`);
    const go = join(dirname(path), 'go');
    // Each says it is ready, waits for the same start, tries, says whether it holds, and keeps what it got for a while.
    const contender = `import { existsSync } from 'node:fs'; import { tryLock } from ${JSON.stringify(resolve('src/state/lock.ts'))};
      console.log('ready'); while (!existsSync(${JSON.stringify(go)}));
      console.log(tryLock(${JSON.stringify(path)}).held); setTimeout(() => undefined, 1000);`;
    const children = Array.from({ length: 6 }, () =>
      spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', contender], {
        stdio: ['ignore', 'pipe', 'inherit'],
      }),
    );
    const outputs = children.map(() => ({ text: '' }));
    const ended = children.map(
      (child, i) =>
        new Promise<void>((done) => {
          child.stdout.on('data', (d: Buffer) => (outputs[i]!.text += d.toString()));
          child.on('close', () => done());
        }),
    );
    await pollUntil(() => (outputs.every((o) => o.text.startsWith('ready')) ? true : undefined), {
      timeoutMs: 60_000,
      intervalMs: 50,
      what: 'the contenders to start',
    });
    writeFileSync(go, '');
    await Promise.all(ended);
    expect(
      outputs.map((o) => o.text.split('\n')[1]).filter((held) => held === 'true'),
    ).toHaveLength(1);
    expect(readdirSync(dirname(path)).sort()).toEqual(['go', 'upload.lock']);
  }, 90_000);
});
