import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { renderRestoreUnit, renderRulesUnit } from '../../src/render/artefacts.js';
import { ExecaRunner } from '../../src/tools/runner.js';
import { verifyUnits } from '../../src/tools/systemd.js';
import { requireCommand } from '../helpers/require.js';

describe('generated units pass systemd-analyze verify', () => {
  it('with paths that hold spaces, quotes, $ and %', async () => {
    requireCommand('systemd-analyze', 'systemd');
    const dir = mkdtempSync(join(tmpdir(), "kl units it's $X 100%-"));
    const rules = join(dir, 'kernel-leap-rules.service');
    const restore = join(dir, 'kernel-leap-restore.service');
    writeFileSync(
      rules,
      renderRulesUnit({
        rulesFile: join(dir, 'lock rules'),
        iptablesRestore: '/usr/sbin/iptables-restore',
        marker: '/run/kernel-leap/rules-loaded',
        pendingFile: join(dir, 'pending'),
        restoringBootFile: join(dir, 'restoring.boot'),
        procBootId: '/proc/sys/kernel/random/boot_id',
      }),
    );
    writeFileSync(
      restore,
      renderRestoreUnit({
        pendingFile: join(dir, 'pending'),
        restoringFile: join(dir, 'restoring'),
        bootScript: join(dir, 'restore boot.sh'),
        timeoutSec: 300,
        rulesUnit: 'kernel-leap-rules.service',
        savedSysctls: '/run/kernel-leap/sysctl',
        procSys: '/proc/sys',
        resumeScript: '/var/lib/kernel-leap/resume-trees.sh',
      }),
    );
    const problems = await verifyUnits(new ExecaRunner(), [rules, restore]);
    // Only complaints about units this host lacks are acceptable; none about syntax or quoting.
    const lines = problems
      .split('\n')
      .filter(
        (l) =>
          l.trim() &&
          !/not found|No such file|Failed to load|Unit .* not found|is not executable/i.test(l),
      );
    expect(lines).toEqual([]);
  });
});
