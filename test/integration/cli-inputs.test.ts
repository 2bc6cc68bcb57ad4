/**
 * The CLI's refusals, through the real bundle: global options anywhere on the
 * line, a command that needs root run by another user, conflicting selectors and
 * a kernel that is not installed, each refused before anything is touched.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { copyOfBuild } from '../helpers/built.js';
import { requireCommand, requireRoot } from '../helpers/require.js';

const bundle = () => copyOfBuild('kl-cli-');

function run(
  args: readonly string[],
  prefix: readonly string[] = [],
  stateDir = mkdtempSync(join(tmpdir(), 'kl-cli-state-')),
): { status: number | null; stderr: string; stdout: string } {
  const argv = [...prefix, process.execPath, bundle(), ...args];
  const result = spawnSync(argv[0] as string, argv.slice(1), {
    encoding: 'utf8',
    env: {
      PATH: process.env.PATH ?? '',
      KERNEL_LEAP_PATHS_STATE_DIR: stateDir,
    },
  });
  return { status: result.status, stderr: result.stderr, stdout: result.stdout };
}

describe('the CLI refuses bad input before it touches anything', () => {
  it('reads global options before the command name, values included', () => {
    const result = run(['--set', 'restore.address_timeout=1.5', 'status']);
    expect(result.stderr).not.toContain('unknown command');
    expect(result.stderr).toContain('restore.address_timeout');
    expect(result.status).toBe(7);
  });

  it('says a command needs root, with exit 6, to another user', () => {
    requireRoot();
    requireCommand('setpriv', 'util-linux');
    for (const command of ['status', 'report', 'upload-logs', 'restore', 'plan']) {
      const result = run(
        [command],
        ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'],
      );
      expect(result.stderr, command).toContain(`kernel-leap ${command} needs root`);
      expect(result.status, command).toBe(6);
    }
  });

  it('refuses a new upgrade while a dumped run waits for its boot, naming it and how to finish it', () => {
    requireRoot();
    const stateDir = mkdtempSync(join(tmpdir(), 'kl-cli-state-'));
    writeFileSync(join(stateDir, 'pending'), '20261206T070000Z-aaaa\n');
    const result = run(['upgrade', '--yes'], [], stateDir);
    expect(result.stderr).toContain(
      'run 20261206T070000Z-aaaa is dumped and waits for the next boot',
    );
    expect(result.stderr).toContain('kexec -e');
    expect(result.status).toBe(3);
  });

  it('refuses --pid, --tty and --all-ssh together', () => {
    requireRoot();
    const result = run(['plan', '--pid', '1', '--all-ssh']);
    expect(result.stderr).toContain('--pid and --all-ssh pick the session in different ways');
    expect(result.status).toBe(2);
  });
});
