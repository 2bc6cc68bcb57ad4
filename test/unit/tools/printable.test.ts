import { describe, expect, it } from 'vitest';

import { jsonText, printable, printableLines } from '../../../src/tools/printable.js';

describe('printable', () => {
  it('escapes what a terminal acts on: OSC, CSI, BEL, DEL, C1 and a bidi override', () => {
    expect(printable('a\x1b]0;pwned\x07b\x1b[2J\x7f\x9b31m\u202eexe.txt')).toBe(
      'a\\x1b]0;pwned\\x07b\\x1b[2J\\x7f\\x9b31m\\u202eexe.txt',
    );
  });

  it('keeps one line one line: a newline, a CR, a tab, U+2028 and a lone surrogate are escaped', () => {
    expect(printable('ok\nverdict: go\r\t\u2028\ud800')).toBe(
      'ok\\nverdict: go\\r\\t\\u2028\\ud800',
    );
  });

  it('leaves text, accents, CJK, emoji and backslashes alone, and changes nothing a second time', () => {
    const plain = 'bash -c "echo \\x1b" café 日本 🚀';
    expect(printable(plain)).toBe(plain);
    const once = printable('\x1b[2J\u{e0041}');
    expect(once).toBe('\\x1b[2J\\u{e0041}');
    expect(printable(once)).toBe(once);
  });

  it('keeps the line breaks of several lines, and escapes what is inside them', () => {
    expect(printableLines('one \x1b[2J\ntwo\u202e')).toBe('one \\x1b[2J\ntwo\\u202e');
  });
});

describe('jsonText', () => {
  it('escapes C1, DEL and format characters as \\u, and reads back as the same value', () => {
    const value = { title: 'x\x1b]0;pwned\x07\x9b\x7f\u202e\u{e0041}' };
    const text = jsonText(value);
    expect(text).not.toMatch(/[\x00-\x1f\x7f-\x9f\u202e]/);
    expect(text).toContain('\\u009b\\u007f\\u202e\\udb40\\udc41');
    expect(JSON.parse(text)).toEqual(value);
    expect(jsonText(value, 2)).toBe(`{\n  "title": ${text.slice('{"title":'.length, -1)}\n}`);
  });
});
