import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { loadConfig } from '../../../src/config/load.js';
import { configReference, defaultText } from '../../../src/config/reference.js';
import { SCHEMA } from '../../../src/config/schema.js';

function load(text: string) {
  const file = join(mkdtempSync(join(tmpdir(), 'kl-reference-')), 'kernel-leap.conf');
  writeFileSync(file, text);
  return loadConfig({ file, env: {} }).config;
}

const defaults = () => loadConfig({ file: undefined, env: {} }).config;

describe('the shipped config file, generated from the schema', () => {
  const text = configReference();

  it('loads as the defaults', () => {
    expect(load(text)).toEqual(defaults());
  });

  it('shows every key of every section, commented out under its section', () => {
    for (const [section, keys] of Object.entries(SCHEMA)) {
      const body = text.split(`[${section}]\n`)[1]?.split(/^\[/m)[0] ?? '';
      for (const [key, spec] of Object.entries(keys))
        expect(body, `${section}.${key}`).toMatch(
          new RegExp(`^#${key} =( ${defaultText(spec.default)})?$`, 'm'),
        );
    }
    expect(text.split('\n').filter((l) => /^[a-z_]+ =/.test(l))).toEqual([]);
  });

  it('uncommenting every key leaves the config as it was: each shows its default', () => {
    const uncommented = text.replace(/^#([a-z_]+ =)/gm, '$1');
    expect(uncommented).not.toMatch(/^#[a-z_]+ =/m);
    expect(load(uncommented)).toEqual(defaults());
  });

  it('says what each key does, in lines that fit a terminal', () => {
    expect(text).toContain('# How long criu restore may take. Takes a whole number of seconds');
    for (const line of text.split('\n')) expect(line.length, line).toBeLessThanOrEqual(78);
  });

  it('writes a list default as shell words, and refuses a default it cannot write', () => {
    expect(defaultText(['--tcp-established', 'a b'])).toBe("--tcp-established 'a b'");
    expect(defaultText(undefined)).toBe('');
    expect(() => defaultText({ days: [] })).toThrow(/no INI text/);
  });
});
