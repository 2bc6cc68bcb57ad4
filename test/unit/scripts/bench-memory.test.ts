import { parse } from 'shell-quote';
import { describe, expect, it } from 'vitest';

import { memoryCheckOf, memoryHolderCommand } from '../../../scripts/bench-memory.js';
import type { StampedLine } from '../../../test/helpers/vm-session.js';

const lines = (...texts: string[]): StampedLine[] =>
  texts.map((text, i) => ({ text, raw: text, at: i, mono: i }));

describe('bench memory holder', () => {
  it('starts python3 in the background with the size and the check file as its arguments', () => {
    const [python, dashC, script, mib, check, background] = parse(
      memoryHolderCommand(512, "/root/it's checked"),
    );
    expect([python, dashC, mib, check, background]).toEqual([
      'python3',
      '-c',
      '512',
      "/root/it's checked",
      { op: '&' },
    ]);
    // Every page written, different from every other, summed before and after by the same process.
    expect(script).toContain('buf = bytearray(mib << 20)');
    expect(script).toContain("print('MEM-SUM %08x %d' % (before, mib), flush=True)");
    expect(script).toContain('if os.getppid() != parent:');
  });

  it('reads an intact memory, and a changed one as changed', () => {
    expect(
      memoryCheckOf(
        lines('tick 1 a', 'MEM-SUM 93ebcaac 512', 'MEM-CHECK 93ebcaac 93ebcaac intact'),
        512,
      ),
    ).toEqual({ mib: 512, before: '93ebcaac', after: '93ebcaac', intact: true });
    expect(
      memoryCheckOf(lines('MEM-SUM 93ebcaac 64', 'MEM-CHECK 93ebcaac 0badf00d CHANGED'), 64),
    ).toMatchObject({ after: '0badf00d', intact: false });
  });

  it('fails when a sum is missing, is for another size, or comes from another holder', () => {
    expect(() => memoryCheckOf(lines('MEM-CHECK 93ebcaac 93ebcaac intact'), 8)).toThrow(
      'no MEM-SUM line for 8 MiB',
    );
    expect(() => memoryCheckOf(lines('MEM-SUM 93ebcaac 16'), 8)).toThrow(
      'no MEM-SUM line for 8 MiB',
    );
    expect(() => memoryCheckOf(lines('MEM-SUM 93ebcaac 8'), 8)).toThrow('no MEM-CHECK line');
    expect(() =>
      memoryCheckOf(lines('MEM-SUM 93ebcaac 8', 'MEM-CHECK 12345678 12345678 intact'), 8),
    ).toThrow('its sum before reads 12345678, not 93ebcaac');
  });
});
