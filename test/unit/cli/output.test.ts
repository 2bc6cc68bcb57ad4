import { PassThrough } from 'node:stream';

import { describe, expect, it } from 'vitest';

import {
  formatIndented,
  formatTable,
  Output,
  terminalWidth,
  wrapText,
} from '../../../src/cli/output.js';

const ROWS = [
  ['ok', 'criu', '3.17.1'],
  ['warn', 'criu cannot', 'cannot dump pidfds; leaves its nftables lock in place after a restore'],
];

const lines = (text: string) => text.split('\n');

describe('tables', () => {
  it('keep whole lines without a width (a pipe, a file)', () => {
    const table = formatTable(['level', 'item', 'detail'], ROWS);
    expect(lines(table)).toHaveLength(4);
    expect(table).toContain(ROWS[1]?.[2]);
  });

  it('wrap the widest column, at spaces, to fit a width; the others keep theirs', () => {
    const table = formatTable(['level', 'item', 'detail'], ROWS, 50);
    expect(lines(table).every((l) => l.length <= 50)).toBe(true);
    expect(lines(table)).toEqual([
      'level  item         detail',
      '-----  -----------  ------------------------------',
      'ok     criu         3.17.1',
      'warn   criu cannot  cannot dump pidfds; leaves its',
      '                    nftables lock in place after a',
      '                    restore',
    ]);
  });

  it('never squeeze a column below a readable width, even if the line stays too long', () => {
    const table = formatTable(
      ['item', 'detail'],
      [['x'.repeat(40), 'a long detail with words']],
      30,
    );
    expect(lines(table).slice(2)).toEqual([
      `${'x'.repeat(12)}  a long detail with words`,
      'x'.repeat(12),
      'x'.repeat(12),
      'x'.repeat(4),
    ]);
  });
});

describe('wrapping', () => {
  it('breaks inside a word longer than a line', () => {
    expect(wrapText('ab abcdefgh c', 4)).toEqual(['ab', 'abcd', 'efgh', 'c']);
  });

  it('indents the lines after the first of a hint', () => {
    expect(formatIndented('item: do this then that and more', 22)).toBe(
      '  item: do this then\n    that and more',
    );
    expect(formatIndented('item: do this', undefined)).toBe('  item: do this');
  });
});

describe('Output.result', () => {
  const answer = (tty: boolean) => {
    const stdout = Object.assign(new PassThrough(), { isTTY: tty, columns: 33 });
    let width: number | undefined = -1;
    new Output(false, false, stdout).result({}, (_, w) => {
      width = w;
      return '';
    });
    return width;
  };

  it("hands the text the terminal's width, and none for a pipe", () => {
    expect(answer(true)).toBe(33);
    expect(answer(false)).toBeUndefined();
  });
});

describe('the terminal width', () => {
  const stream = (fields: { isTTY?: boolean; columns?: number }) =>
    Object.assign(new PassThrough(), fields);

  it('is a terminal’s columns, and unknown for a pipe or a terminal of no size (ssh -tt from a script)', () => {
    expect(terminalWidth(stream({ isTTY: true, columns: 80 }))).toBe(80);
    expect(terminalWidth(stream({ isTTY: true, columns: 0 }))).toBeUndefined();
    expect(terminalWidth(stream({}))).toBeUndefined();
  });
});
