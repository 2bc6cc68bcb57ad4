import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

// The guest gets only dist/kernel-leap.mjs and node: the bundle must carry every dependency.
describe('the bundle alone', () => {
  it('runs --help and a subcommand help from an empty directory with no node_modules', () => {
    const bundle = resolve('dist/kernel-leap.mjs');
    if (!existsSync(bundle)) throw new Error('dist/kernel-leap.mjs is missing: npm test builds it first (npm run build)');
    const dir = mkdtempSync(join(tmpdir(), 'kl-bundle-'));
    copyFileSync(bundle, join(dir, 'kernel-leap.mjs'));
    const run = (...args: string[]) => execFileSync(process.execPath, [join(dir, 'kernel-leap.mjs'), ...args], { cwd: dir, env: { PATH: process.env.PATH ?? '' } }).toString();
    expect(run('--help')).toMatch(/^kernel-leap: carry a live ssh session/);
    expect(run('upgrade', '--help')).toContain('--pre CMD');
    expect(existsSync(join(dir, 'node_modules'))).toBe(false);
  });
});
