import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { execArg, shQuote, unitValue } from '../../../src/render/quote.js';

const HOSTILE = [`it's`, 'a b', '$HOME', '100%', ';', 'back\\slash', '"dq"', '`id`', '$(id)', '*', ''];

describe('shQuote', () => {
  it.each(HOSTILE)('round-trips %j through dash', (value) => {
    const out = execFileSync('dash', ['-c', `printf '%s' ${shQuote(value)}`]).toString();
    expect(out).toBe(value);
  });

  it('refuses newlines, CR and NUL', () => {
    for (const bad of ['a\nb', 'a\rb', 'a\0b']) expect(() => shQuote(bad)).toThrowError(expect.objectContaining({ code: 'TEMPLATE_UNSAFE_VALUE' }));
  });
});

describe('execArg', () => {
  it('double-quotes and escapes systemd specifiers and variables', () => {
    expect(execArg('/opt/my dir/it\'s')).toBe('"/opt/my dir/it\'s"');
    expect(execArg('100%')).toBe('"100%%"');
    expect(execArg('$HOME and ${X}')).toBe('"$$HOME and $${X}"');
    expect(execArg('say "hi" \\')).toBe('"say \\"hi\\" \\\\"');
  });

  it('refuses a newline that would inject a directive', () => {
    expect(() => execArg('x\nExecStartPre=/bin/rm -rf /')).toThrowError(/NUL, CR or LF/);
  });
});

describe('unitValue', () => {
  it('escapes % and refuses newlines', () => {
    expect(unitValue('/var/lib/kl 100%/pending')).toBe('/var/lib/kl 100%%/pending');
    expect(() => unitValue('a\nb')).toThrowError(/NUL, CR or LF/);
  });
});
