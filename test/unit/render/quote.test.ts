import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import {
  execArg,
  execPath,
  shQuote,
  shText,
  unitName,
  unitPath,
  unitValue,
} from '../../../src/render/quote.js';
import { systemdExec } from './systemd-exec.js';

const HOSTILE = [
  `it's`,
  'a b',
  '$HOME',
  '${X}',
  '100%',
  '%n',
  ';',
  'back\\slash',
  'end\\',
  '"dq"',
  '`id`',
  '$(id)',
  '*',
  '-x',
  '\ttab',
  '',
];
const BREAKING = ['a\nb', 'a\rb', 'a\0b', 'x\nExecStartPre=/bin/rm -rf /'];
const unsafe = (pattern: RegExp) =>
  expect.objectContaining({
    code: 'TEMPLATE_UNSAFE_VALUE',
    message: expect.stringMatching(pattern),
  });

describe('shQuote', () => {
  it.each(HOSTILE)('round-trips %j through dash', (value) => {
    const out = execFileSync('dash', ['-c', `printf '%s' ${shQuote(value)}`]).toString();
    expect(out).toBe(value);
  });

  it.each(BREAKING)('refuses %j', (bad) =>
    expect(() => shQuote(bad)).toThrowError(unsafe(/NUL, CR or LF/)),
  );
});

describe('shText', () => {
  it.each([...HOSTILE, 'a\nb', 'a\rb', "x'\necho pwned"])(
    'round-trips %j through dash as one word, a newline in it included',
    (value) => {
      const out = execFileSync('dash', ['-c', `printf '%s|' ${shText(value)}`]).toString();
      expect(out).toBe(`${value}|`);
    },
  );

  it('refuses NUL, which no path or argument holds', () =>
    expect(() => shText('a\0b')).toThrowError(unsafe(/NUL in a shell word/)));
});

describe('execArg', () => {
  it('double-quotes and escapes systemd specifiers and variables', () => {
    expect(execArg(`/opt/my dir/it's`)).toBe(`"/opt/my dir/it's"`);
    expect(execArg('100%')).toBe('"100%%"');
    expect(execArg('$HOME and ${X}')).toBe('"$$HOME and $${X}"');
    expect(execArg('say "hi" \\')).toBe('"say \\"hi\\" \\\\"');
  });

  it.each(HOSTILE)('round-trips %j through a systemd-style Exec= parse', (value) => {
    expect(systemdExec(`/bin/echo ${execArg(value)} ${execArg(value)}`).argv).toEqual([
      '/bin/echo',
      value,
      value,
    ]);
  });

  it.each(BREAKING)('refuses %j', (bad) =>
    expect(() => execArg(bad)).toThrowError(unsafe(/NUL, CR or LF/)),
  );
});

describe('execPath', () => {
  it('quotes spaces and escapes specifiers, but leaves $ alone (systemd never expands it there)', () => {
    expect(execPath('/opt/my node 100%/node')).toBe('"/opt/my node 100%%/node"');
    expect(systemdExec(`${execPath('/opt/my node 100%/node')} --version`).path).toBe(
      '/opt/my node 100%/node',
    );
  });

  it.each([
    `/opt/it's/node`,
    '/opt/"q"/node',
    '/opt/back\\slash/node',
    '/opt/$HOME/node',
    '/opt/\x01/node',
  ])('refuses %j, which systemd cannot run as written', (bad) => {
    expect(() => execPath(bad)).toThrowError(unsafe(/systemd refuses/));
  });

  it.each(['node', '-/usr/bin/node', ''])('refuses a relative path or a prefix: %j', (bad) => {
    expect(() => execPath(bad)).toThrowError(unsafe(/absolute/));
  });

  it.each(BREAKING)('refuses %j', (bad) =>
    expect(() => execPath(`/${bad}`)).toThrowError(unsafe(/NUL, CR or LF/)),
  );
});

describe('unitValue, unitPath, unitName', () => {
  it('escapes % only', () => {
    expect(unitValue(`it's $HOME "dq" 100%`)).toBe(`it's $HOME "dq" 100%%`);
    expect(unitPath('/var/lib/kl 100%/pending')).toBe('/var/lib/kl 100%%/pending');
  });

  it('refuses a trailing backslash, which would swallow the next directive', () => {
    expect(() => unitValue('/x\\')).toThrowError(unsafe(/trailing backslash/));
  });

  it.each([' x', 'x ', '\tx'])('refuses surrounding whitespace systemd would strip: %j', (bad) => {
    expect(() => unitValue(bad)).toThrowError(unsafe(/whitespace/));
  });

  it.each(BREAKING)('refuses %j', (bad) =>
    expect(() => unitValue(bad)).toThrowError(unsafe(/NUL, CR or LF/)),
  );

  it.each(['!/x', '|/x', 'relative'])('unitPath refuses a non-absolute path: %j', (bad) => {
    expect(() => unitPath(bad)).toThrowError(unsafe(/absolute/));
  });

  it('unitName takes one unit name, nothing that would split into two', () => {
    expect(unitName('kernel-leap-rules.service')).toBe('kernel-leap-rules.service');
    for (const bad of ['a.service b.service', 'a', 'x%i.service', ''])
      expect(() => unitName(bad)).toThrowError(unsafe(/not a unit name/));
  });

  it('systemd itself reads a unitPath back to the same file (systemd-analyze condition)', () => {
    const dir = mkdtempSync(join(tmpdir(), `kl it's $HOME "dq" back\\slash 100%-`));
    const file = join(dir, 'pending 100%');
    writeFileSync(file, '');
    const check = (path: string) =>
      execFileSync('systemd-analyze', ['condition', `ConditionPathExists=${unitPath(path)}`], {
        stdio: 'pipe',
      });
    expect(() => check(file)).not.toThrow();
    expect(() => check(`${file}x`)).toThrow();
  });
});
