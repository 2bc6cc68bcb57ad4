import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { copyOfBuild } from '../helpers/built.js';

// The guest gets only dist/ and node: the build must carry every dependency.
describe('the build alone', () => {
  it('runs --help and a subcommand help from an empty directory with no node_modules', () => {
    const entry = copyOfBuild('kl-bundle-');
    const dir = dirname(entry);
    const run = (...args: string[]) =>
      execFileSync(process.execPath, [entry, ...args], {
        cwd: dir,
        env: { PATH: process.env.PATH ?? '' },
      }).toString();
    expect(run('--help')).toMatch(/^kernel-leap: carry a live ssh session/);
    expect(run('upgrade', '--help')).toContain('--pre CMD');
    expect(existsSync(join(dir, 'node_modules'))).toBe(false);
  });

  it('keeps the S3 client and systeminformation out of the entry the restore at boot parses, in chunks of their own', () => {
    const entry = copyOfBuild('kl-bundle-');
    const chunks = readdirSync(join(dirname(entry), 'chunks')).map((name) =>
      readFileSync(join(dirname(entry), 'chunks', name), 'utf8'),
    );
    // A name from each library's own code.
    for (const marker of ['PutObjectCommand = class', 'function getStaticData']) {
      expect(readFileSync(entry, 'utf8')).not.toContain(marker);
      expect(chunks.some((text) => text.includes(marker))).toBe(true);
    }
  });
});
