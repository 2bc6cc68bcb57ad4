/**
 * Every file the boot's shell scripts write is root's alone (0600, directories
 * 0700), whatever umask they were started with: each sets `umask 077` first. Run
 * here by dash under an open umask of 022; restore-fast.sh is run so in flows.test.ts.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import {
  renderActionScript,
  renderIfPreUpHook,
  renderRestoreBootScript,
  renderRestoreUnit,
  renderResumeScript,
  renderRulesUnit,
  renderTakeScript,
} from '../../../src/render/artefacts.js';

const mode = (path: string) => statSync(path).mode & 0o777;

/** `script` run by dash the way its caller would, but under umask 022. */
function underOpenUmask(script: string, env: Record<string, string> = {}) {
  const result = spawnSync('/bin/sh', ['-c', 'umask 022 && exec /bin/sh "$0"', script], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
}

describe('the boot shell scripts', () => {
  it("criu's action script writes the restored pid 0600", () => {
    const dir = mkdtempSync(join(tmpdir(), 'kl-action-'));
    const pidFile = join(dir, 'restored-pid');
    const script = join(dir, 'criu-action.sh');
    writeFileSync(
      script,
      renderActionScript({
        pidFile,
        pathsLock: join(dir, 'paths.lock'),
        heldDir: join(dir, 'held-files'),
        heldLog: join(dir, 'held-files.log'),
        heldFiles: [],
      }),
    );
    underOpenUmask(script, { CRTOOLS_SCRIPT_ACTION: 'post-resume', CRTOOLS_INIT_PID: '4242' });
    expect(readFileSync(pidFile, 'utf8')).toBe('4242\n');
    expect(mode(pidFile)).toBe(0o600);
  });

  it('the ifupdown hook makes its marker directory 0700 and the marker 0600', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kl-hook-'));
    const ctx = {
      rulesFile: join(dir, 'rules.v4'),
      marker: join(dir, 'run', 'rules-loaded'),
      iptablesRestore: '/bin/true',
      pendingFile: join(dir, 'pending'),
      restoringBootFile: join(dir, 'restoring.boot'),
      procBootId: '/proc/sys/kernel/random/boot_id',
    };
    writeFileSync(ctx.rulesFile, '');
    writeFileSync(ctx.pendingFile, 'r1\n');
    const hook = join(dir, 'hook');
    writeFileSync(hook, renderIfPreUpHook(ctx));
    underOpenUmask(hook);
    expect(mode(join(dir, 'run'))).toBe(0o700);
    expect(mode(ctx.marker)).toBe(0o600);
  });

  it('each sets umask 077 before it runs a command, and the units that run them UMask=0077', () => {
    const scripts = {
      'criu-action.sh': renderActionScript({
        pidFile: '/r/pid',
        pathsLock: '/r/paths.lock',
        heldDir: '/r/held-files',
        heldLog: '/r/held-files.log',
        heldFiles: [],
      }),
      'if-pre-up': renderIfPreUpHook({
        rulesFile: '/r',
        marker: '/m/x',
        iptablesRestore: '/i',
        pendingFile: '/p',
        restoringBootFile: '/q.boot',
        procBootId: '/proc/sys/kernel/random/boot_id',
      }),
      'restore-boot.sh': renderRestoreBootScript({
        stateDir: '/s',
        node: '/n',
        bundle: '/b',
        takeScript: '/s/take-pending.sh',
        resumeScript: '/s/resume-trees.sh',
        procSys: '/proc/sys',
        savedSysctls: '/run/kernel-leap/sysctl',
      }),
      'take-pending.sh': renderTakeScript({
        stateDir: '/s',
        pendingFile: '/s/pending',
        restoringFile: '/s/restoring',
        restoringBootFile: '/s/restoring.boot',
        procBootId: '/proc/sys/kernel/random/boot_id',
      }),
      'resume-trees.sh': renderResumeScript({
        stateDir: '/s',
        proc: '/proc',
        procBootId: '/proc/sys/kernel/random/boot_id',
        records: ['node-restore', 'fast-restore'],
        stoppedAtDump: 'stopped-at-dump',
        resumed: 'resumed',
      }),
    };
    for (const [name, text] of Object.entries(scripts)) {
      const commands = text.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
      expect(commands.filter((l) => l !== 'set -eu')[0], name).toBe('umask 077');
    }
    const units = [
      renderRulesUnit({
        rulesFile: '/r',
        iptablesRestore: '/i',
        marker: '/m/x',
        pendingFile: '/p',
        restoringBootFile: '/q.boot',
        procBootId: '/proc/sys/kernel/random/boot_id',
      }),
      renderRestoreUnit({
        pendingFile: '/p',
        restoringFile: '/q',
        bootScript: '/b',
        timeoutSec: 300,
        rulesUnit: 'kernel-leap-rules.service',
        savedSysctls: '/run/kernel-leap/sysctl',
        procSys: '/proc/sys',
        resumeScript: '/var/lib/kernel-leap/resume-trees.sh',
      }),
    ];
    for (const unit of units) expect(unit).toMatch(/^\[Service\]\n(?:.*\n)*?UMask=0077$/m);
  });
});
