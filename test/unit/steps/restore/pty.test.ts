import { describe, expect, it } from 'vitest';

import { planPtyRemaps, remapFiles, remapTtyInfo } from '../../../../src/steps/restore/pty.js';

describe('planPtyRemaps', () => {
  it('leaves free indexes alone', () => {
    expect(planPtyRemaps([0], new Set([1, 2]))).toEqual([]);
  });

  it('moves a taken index to the lowest free one', () => {
    expect(planPtyRemaps([0], new Set([0]))).toEqual([{ from: 0, to: 1 }]);
    expect(planPtyRemaps([0, 1], new Set([0, 1, 3]))).toEqual([
      { from: 0, to: 2 },
      { from: 1, to: 4 },
    ]);
  });

  it('never picks an index another dumped pty keeps', () => {
    expect(planPtyRemaps([0, 1], new Set([0]))).toEqual([{ from: 0, to: 2 }]);
  });

  it('refuses when no free index is within 31 of the lowest free one', () => {
    const taken = new Set([
      ...Array.from({ length: 5 }, (_, i) => i),
      ...Array.from({ length: 40 }, (_, i) => i + 6),
    ]);
    // Lowest free is 5; 5 itself is dumped (kept), the next free is 46: 41 away.
    expect(() => planPtyRemaps([5, 7], taken)).toThrowError(
      /no free pty index is within 31 of pts\//,
    );
  });
});

describe('image rewrites', () => {
  it('changes pty.index of master and slave, and the /dev/pts path, nothing else', () => {
    const tty = {
      magic: 'TTY_INFO',
      entries: [
        { id: 1, type: 'PTY', pty: { index: 0 }, rdev: 1280 },
        { id: 0, type: 'PTY', pty: { index: 0 }, rdev: 34816 },
        { id: 5, type: 'PTY', pty: { index: 3 }, rdev: 1280 },
      ],
    };
    const files = {
      magic: 'FILES',
      entries: [
        { type: 'REG', id: 5, reg: { name: '/dev/pts/0' } },
        { type: 'REG', id: 6, reg: { name: '/dev/ptmx' } },
        { type: 'REG', id: 7, reg: { name: '/dev/pts/03' } },
      ],
    };
    expect(remapTtyInfo(tty, [{ from: 0, to: 2 }])).toBe(2);
    expect(remapFiles(files, [{ from: 0, to: 2 }])).toBe(1);
    expect(tty.entries.map((e) => [e.id, e.pty.index, e.rdev])).toEqual([
      [1, 2, 1280],
      [0, 2, 34816],
      [5, 3, 1280],
    ]);
    expect(files.entries.map((e) => e.reg.name)).toEqual([
      '/dev/pts/2',
      '/dev/ptmx',
      '/dev/pts/03',
    ]);
  });
});
