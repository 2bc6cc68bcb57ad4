/**
 * The memory holder of `npm run bench -- downtime --mem`, run by python3 on the
 * host: it says intact when nothing touched its memory, and CHANGED when one byte
 * of it was changed behind its back (written through /proc/PID/mem), so an intact
 * figure after a leap means something.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import {
  closeSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { memoryCheckOf, memoryHolderCommand } from '../../scripts/bench-memory.js';
import { pollUntil } from '../helpers/poll.js';
import type { StampedLine } from '../helpers/vm-session.js';

const MIB = 4;

describe('bench memory holder, run by python3', () => {
  let dir: string;
  let check: string;
  let shell: ChildProcessWithoutNullStreams;
  let lines: StampedLine[];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'kl-bench-mem-'));
    check = join(dir, 'check');
    lines = [];
    // The shell stays its parent, as the session's shell does.
    shell = spawn('sh', ['-c', `${memoryHolderCommand(MIB, check)} echo "HOLDER $!"; wait`]);
    shell.stdout.on('data', (chunk: Buffer) =>
      lines.push(
        ...chunk
          .toString()
          .trim()
          .split('\n')
          .map((text) => ({ text, raw: text, at: Date.now(), mono: performance.now() })),
      ),
    );
  });

  afterEach(() => {
    shell.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  const line = (pattern: RegExp) =>
    pollUntil(() => lines.find((l) => pattern.test(l.text))?.text, {
      timeoutMs: 30_000,
      intervalMs: 50,
      what: `a line matching ${pattern}`,
      detail: () => lines.map((l) => l.text).join('\n'),
    });

  it('checks only once the check file is there, and finds its memory intact', async () => {
    await line(/^MEM-SUM /);
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(lines.some((l) => l.text.startsWith('MEM-CHECK'))).toBe(false);
    writeFileSync(check, '');
    await line(/^MEM-CHECK /);
    expect(memoryCheckOf(lines, MIB)).toMatchObject({ mib: MIB, intact: true });
  });

  it('finds one byte changed in its memory', async () => {
    await line(/^MEM-SUM /);
    const pid = Number((await line(/^HOLDER \d+$/)).split(' ')[1]);
    changeOneByte(pid);
    writeFileSync(check, '');
    await line(/^MEM-CHECK /);
    expect(memoryCheckOf(lines, MIB).intact).toBe(false);
  });

  it('exits without a check once its shell is gone', async () => {
    await line(/^MEM-SUM /);
    const pid = Number((await line(/^HOLDER \d+$/)).split(' ')[1]);
    shell.kill('SIGKILL');
    await pollUntil(() => (alive(pid) ? undefined : true), {
      timeoutMs: 10_000,
      intervalMs: 100,
      what: 'the holder to exit',
    });
  });
});

/** Running, not a zombie: a container's pid 1 may never reap the orphan. */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** Finds the holder's second page by its pattern in its writable memory, and changes one byte of it. */
function changeOneByte(pid: number): void {
  const word = Buffer.alloc(8);
  word.writeBigUInt64LE((0x9e3779b97f4a7c15n + 1n) % (1n << 64n));
  const page = Buffer.concat(Array.from({ length: 512 }, () => word));
  const regions = readFileSync(`/proc/${pid}/maps`, 'utf8')
    .split('\n')
    .filter((l) => / rw-p /.test(l))
    .map(
      (l) =>
        l
          .split(' ')[0]
          ?.split('-')
          .map((h) => parseInt(h, 16)) as [number, number],
    );
  const mem = openSync(`/proc/${pid}/mem`, 'r+');
  try {
    for (const [start, end] of regions) {
      const buffer = Buffer.alloc(end - start);
      try {
        readSync(mem, buffer, 0, buffer.length, start);
      } catch {
        continue;
      }
      const at = buffer.indexOf(page);
      if (at < 0) continue;
      writeSync(mem, Buffer.from([buffer[at + 100]! ^ 0xff]), 0, 1, start + at + 100);
      return;
    }
  } finally {
    closeSync(mem);
  }
  throw new Error(`the holder's second page is not in the writable memory of ${pid}`);
}
