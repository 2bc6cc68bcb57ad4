import { chmodSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { launcherWords } from '../../../src/cli/launcher-words.js';

/** What the launcher writes: each word, then a NUL. */
function wordsFile(words: readonly string[], mode = 0o600): string {
  const file = join(mkdtempSync(join(tmpdir(), 'kl-argv-')), 'argv');
  writeFileSync(file, words.map((w) => `${w}\0`).join(''), { mode });
  chmodSync(file, mode);
  return file;
}

describe("the launcher's words", () => {
  it('are read whole from its owner-only file, which is removed, and its name kept from what Node starts', () => {
    const words = ['upgrade', '--pre', 'echo "S3CR3T"; sleep 5\nexit 0', '--set', 's3.prefix='];
    const file = wordsFile(words);
    const env: NodeJS.ProcessEnv = { KERNEL_LEAP_ARGV: file };
    expect(launcherWords([], env)).toEqual(words);
    expect(existsSync(file)).toBe(false);
    expect(env).toEqual({});
  });

  it('give way to words on the command line, and are none without a file', () => {
    const file = wordsFile(['plan']);
    expect(launcherWords(['report', '--run', 'R1'], { KERNEL_LEAP_ARGV: file })).toEqual([
      'report',
      '--run',
      'R1',
    ]);
    expect(launcherWords([], {})).toEqual([]);
  });

  it('are refused from a file others may read or write, or that is gone', () => {
    const open = wordsFile(['upgrade'], 0o644);
    expect(() => launcherWords([], { KERNEL_LEAP_ARGV: open })).toThrow(
      expect.objectContaining({
        code: 'LAUNCHER_ARGV',
        message: expect.stringContaining('mode 644'),
      }),
    );
    expect(existsSync(open)).toBe(true);
    expect(() => launcherWords([], { KERNEL_LEAP_ARGV: `${open}.gone` })).toThrow(
      expect.objectContaining({ code: 'LAUNCHER_ARGV', exit: 2 }),
    );
  });
});
