import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tryLock } from '../../../src/state/lock.js';

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
});
