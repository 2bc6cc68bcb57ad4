/**
 * The CLI's refusals and conventions, through the real bundle: global options
 * anywhere on the line, a command that needs root run by another user,
 * conflicting selectors, mistyped commands and options (exit 2, with the nearest
 * name), help and version, prune's dry run, and tables that fit a terminal.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { Journal } from '../../src/state/journal.js';
import { writeOutcome } from '../../src/state/outcome.js';
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
    env: { PATH: process.env.PATH ?? '', KERNEL_LEAP_PATHS_STATE_DIR: stateDir },
  });
  return { status: result.status, stderr: result.stderr, stdout: result.stdout };
}

/** A state dir with one restored run whose images weigh 1 MiB, under a run id of `id`. */
function stateWithRestoredRun(id = 'run-restored'): { stateDir: string; image: string } {
  const stateDir = mkdtempSync(join(tmpdir(), 'kl-cli-state-'));
  const journal = Journal.create(stateDir, 'upgrade', id);
  const image = join(journal.paths.images, 'pages-1.img');
  writeFileSync(image, Buffer.alloc(1024 * 1024));
  writeOutcome(journal.paths.dir, 'restored');
  return { stateDir, image };
}

const longest = (text: string) => Math.max(...text.split(/\r?\n/).map((l) => l.length));

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

describe('the CLI speaks the usual conventions', () => {
  it('exits 2 on an unknown option, with or without a command, and with --json one error object', () => {
    const bare = run(['--bogus']);
    expect(bare.stderr).toContain('unknown option "--bogus"');
    expect(bare.stdout).toBe('');
    expect(bare.status).toBe(2);
    const json = run(['--json', '--bogus']);
    expect(
      json.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as unknown),
    ).toEqual([expect.objectContaining({ type: 'error', code: 'USAGE' })]);
    expect(json.status).toBe(2);
    const typo = run(['status', '--rn', 'x']);
    expect(typo.stderr).toContain('unknown option "--rn": did you mean "--run"?');
    expect(typo.status).toBe(2);
  });

  it('exits 2 on an unknown command, naming the nearest one', () => {
    const typo = run(['pln']);
    expect(typo.stderr).toContain('unknown command "pln": did you mean "plan"?');
    expect(typo.status).toBe(2);
    const far = run(['xyzzy']);
    expect(far.stderr).toContain('unknown command "xyzzy"');
    expect(far.stderr).not.toContain('did you mean');
    expect(far.status).toBe(2);
  });

  it("prints a command's help with `help COMMAND`, as with COMMAND --help", () => {
    const help = run(['help', 'plan']);
    expect(help.stdout).toMatch(/^usage: kernel-leap plan /);
    expect(help.stdout).toBe(run(['plan', '--help']).stdout);
    expect(help.status).toBe(0);
    expect(run(['help']).stdout).toContain('commands:');
    const typo = run(['help', 'prun']);
    expect(typo.stderr).toContain('did you mean "prune"?');
    expect(typo.status).toBe(2);
  });

  it("prints package.json's version with --version and -V", () => {
    const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const result = run([flag]);
      expect(result.stdout, flag).toBe(`kernel-leap ${version}\n`);
      expect(result.status, flag).toBe(0);
    }
  });

  it('lists with prune --dry-run what prune would delete, and deletes nothing', () => {
    requireRoot();
    const { stateDir, image } = stateWithRestoredRun();
    const dry = run(['prune', '--dry-run'], [], stateDir);
    expect(dry.stdout).toContain('run-restored (restored): 1.0 MiB');
    expect(dry.stdout).toContain('would free 1.0 MiB (dry run: nothing deleted)');
    expect(dry.status).toBe(0);
    expect(existsSync(image)).toBe(true);
    const json = run(['--json', 'prune', '--dry-run'], [], stateDir);
    expect(JSON.parse(json.stdout)).toMatchObject({
      type: 'result',
      dryRun: true,
      freedBytes: 1024 * 1024,
      pruned: [{ runId: 'run-restored' }],
    });
    expect(existsSync(image)).toBe(true);
    expect(run(['prune'], [], stateDir).stdout).toContain('freed 1.0 MiB');
    expect(existsSync(image)).toBe(false);
  });

  it("fits a table to a terminal's width, and leaves lines whole in a pipe", () => {
    requireRoot();
    requireCommand('script', 'bsdutils');
    const { stateDir } = stateWithRestoredRun(`run-${'x'.repeat(90)}`);
    const piped = run(['runs'], [], stateDir);
    expect(piped.stdout).toContain(`run-${'x'.repeat(90)}`);
    expect(longest(piped.stdout)).toBeGreaterThan(100);
    // script(1) gives the command a terminal, 60 columns wide.
    const command = `stty cols 60; ${process.execPath} ${bundle()} runs`;
    const tty = spawnSync('script', ['-qec', command, '/dev/null'], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '', KERNEL_LEAP_PATHS_STATE_DIR: stateDir },
    });
    expect(tty.status, tty.stdout).toBe(0);
    expect(tty.stdout).toContain('restored');
    expect(longest(tty.stdout)).toBeLessThanOrEqual(60);
  });
});
