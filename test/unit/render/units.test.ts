import { execFileSync, spawnSync } from 'node:child_process';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { renderRestoreUnit, renderRulesUnit } from '../../../src/render/artefacts.js';
import { systemdExec, unitSetting } from './systemd-exec.js';

// Data paths may hold anything but a newline; executables only what systemd accepts there.
const dir = mkdtempSync(join(tmpdir(), `kl it's $HOME "dq" back\\slash 100% ;-`));
const binDir = mkdtempSync(join(tmpdir(), 'kl bin 100%-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  rmSync(binDir, { recursive: true, force: true });
});

const iptablesRestore = join(binDir, 'iptables-restore');
symlinkSync('/usr/sbin/iptables-restore', iptablesRestore);
const rulesCtx = {
  rulesFile: join(dir, 'lock rules.v4'),
  iptablesRestore,
  marker: '/run/kernel-leap/rules-loaded',
  pendingFile: join(dir, 'pending'),
  restoringBootFile: join(dir, 'restoring.boot'),
  procBootId: '/proc/sys/kernel/random/boot_id',
};
const restoreCtx = {
  pendingFile: join(dir, 'pending'),
  restoringFile: join(dir, 'restoring'),
  bootScript: join(dir, 'restore $1 boot.sh'),
  timeoutSec: 300,
  rulesUnit: 'kernel-leap-rules.service',
  savedSysctls: join(dir, 'saved sysctl'),
  procSys: join(dir, 'proc sys'),
  resumeScript: join(dir, 'resume $1 trees.sh'),
};
const execLines = (unit: string, key: string) =>
  unit
    .split('\n')
    .filter((l) => l.startsWith(`${key}=`))
    .map((l) => systemdExec(l.slice(key.length + 1)).argv);

/** Asks systemd whether the unit's ConditionPathExists= names an existing file. */
/** Every ConditionPathExists= of the unit, as systemd reads them together (`|`: any one is enough). */
function conditionHolds(unit: string): boolean {
  const conditions = unit.split('\n').filter((l) => l.startsWith('ConditionPathExists='));
  return spawnSync('systemd-analyze', ['condition', ...conditions]).status === 0;
}

describe('kernel-leap-rules.service', () => {
  const unit = renderRulesUnit(rulesCtx);

  it('loads the rules with --noflush, then marks them loaded', () => {
    expect(execLines(unit, 'ExecStart')).toEqual([
      [iptablesRestore, '--noflush', rulesCtx.rulesFile],
    ]);
    expect(execLines(unit, 'ExecStartPost')).toEqual([
      ['/bin/mkdir', '-p', '/run/kernel-leap'],
      ['/bin/touch', '/run/kernel-leap/rules-loaded'],
    ]);
  });

  it('runs early, before the network, once per boot, on any boot', () => {
    for (const line of [
      'DefaultDependencies=no',
      'After=local-fs.target',
      'Before=network-pre.target',
      'Wants=network-pre.target',
      'Type=oneshot',
      'RemainAfterExit=yes',
      'WantedBy=network-pre.target',
    ]) {
      expect(unit.split('\n')).toContain(line);
    }
    // Any boot while a run waits, not only the leap's kexec (a reset, the reboot after a panic).
    expect(unit).not.toContain('ConditionKernelCommandLine');
  });

  it('is inert without the rules file, or with no run pending (a list a cut-short boot left), as systemd reads the conditions', () => {
    expect(conditionHolds(unit)).toBe(false);
    writeFileSync(rulesCtx.rulesFile, '');
    expect(conditionHolds(unit)).toBe(false);
    writeFileSync(rulesCtx.pendingFile, 'r1\n');
    expect(conditionHolds(unit)).toBe(true);
    rmSync(rulesCtx.rulesFile);
    rmSync(rulesCtx.pendingFile);
  });
});

describe('kernel-leap-restore.service', () => {
  const unit = renderRestoreUnit(restoreCtx);

  it('runs the boot script with the exact argv', () => {
    expect(execLines(unit, 'ExecStart')).toEqual([['/bin/sh', restoreCtx.bootScript]]);
  });

  it('starts as soon as it can: oneshot, no idle, no sleep, beside the rules (its script waits for them), after tmpfiles empties /tmp', () => {
    const lines = unit.split('\n');
    for (const line of [
      'Type=oneshot',
      'DefaultDependencies=no',
      'Wants=kernel-leap-rules.service',
      'Conflicts=shutdown.target',
      'Before=shutdown.target',
      'TimeoutStartSec=300',
      'StandardOutput=journal+console',
      'WantedBy=multi-user.target',
    ]) {
      expect(lines).toContain(line);
    }
    expect(unitSetting(unit, 'After').split(' ')).toEqual([
      'local-fs.target',
      'systemd-tmpfiles-setup-dev.service',
      'systemd-tmpfiles-setup.service',
    ]);
    expect(unit).not.toMatch(/^Type=idle|^Exec.*sleep/m);
  });

  it('does nothing unless a run is pending or a restore was cut short, as systemd reads the conditions', () => {
    expect(conditionHolds(unit)).toBe(false);
    for (const file of [restoreCtx.pendingFile, restoreCtx.restoringFile]) {
      writeFileSync(file, 'run-1\n');
      expect(conditionHolds(unit)).toBe(true);
      rmSync(file);
    }
  });

  it('refuses a newline instead of injecting a directive, and a timeout systemd would misread', () => {
    expect(() =>
      renderRestoreUnit({ ...restoreCtx, pendingFile: '/x\nExecStartPre=/bin/sh' }),
    ).toThrowError(/NUL, CR or LF/);
    for (const timeoutSec of [0, -1, 1.5, Number.NaN])
      expect(() => renderRestoreUnit({ ...restoreCtx, timeoutSec })).toThrowError(
        /TimeoutStartSec/,
      );
  });
});

describe("the restore unit's ExecStopPost=", () => {
  it('first resumes the trees restored and left stopped, whatever became of Node', () => {
    const [argv] = execLines(renderRestoreUnit(restoreCtx), 'ExecStopPost');
    expect(argv).toEqual(['/bin/sh', restoreCtx.resumeScript]);
  });

  it('puts back every kernel setting a killed restore left changed, and only those', () => {
    const unit = renderRestoreUnit(restoreCtx);
    const [, argv] = execLines(unit, 'ExecStopPost');
    expect(argv?.slice(0, 2)).toEqual(['/bin/sh', '-c']);
    expect(argv?.slice(3)).toEqual([
      'kernel-leap-sysctl',
      restoreCtx.savedSysctls,
      restoreCtx.procSys,
    ]);
    mkdirSync(join(restoreCtx.procSys, 'net/ipv4'), { recursive: true });
    mkdirSync(restoreCtx.savedSysctls, { recursive: true });
    writeFileSync(join(restoreCtx.procSys, 'net/ipv4/tcp_window_scaling'), '0\n');
    writeFileSync(join(restoreCtx.procSys, 'net/ipv4/tcp_sack'), '0\n');
    writeFileSync(join(restoreCtx.savedSysctls, 'net.ipv4.tcp_window_scaling'), '1\n');
    execFileSync(argv?.[0] ?? '', argv?.slice(1) ?? []);
    expect(readFileSync(join(restoreCtx.procSys, 'net/ipv4/tcp_window_scaling'), 'utf8')).toBe(
      '1\n',
    );
    expect(readFileSync(join(restoreCtx.procSys, 'net/ipv4/tcp_sack'), 'utf8')).toBe('0\n');
    expect(readdirSync(restoreCtx.savedSysctls)).toEqual([]);
    // Nothing saved: nothing to do, and no error.
    execFileSync(argv?.[0] ?? '', argv?.slice(1) ?? []);
  });
});

describe('systemd-analyze verify', () => {
  it('accepts both units without a single complaint', () => {
    const unitDir = join(dir, 'units');
    mkdirSync(unitDir);
    writeFileSync(join(unitDir, 'kernel-leap-rules.service'), renderRulesUnit(rulesCtx));
    writeFileSync(join(unitDir, 'kernel-leap-restore.service'), renderRestoreUnit(restoreCtx));
    const out = execFileSync(
      'systemd-analyze',
      [
        'verify',
        '--man=no',
        join(unitDir, 'kernel-leap-rules.service'),
        join(unitDir, 'kernel-leap-restore.service'),
      ],
      { stdio: 'pipe', encoding: 'utf8' },
    );
    expect(out).toBe('');
  });

  it('would catch an executable path systemd cannot use (the check is live)', () => {
    const bad = join(dir, 'bad.service');
    writeFileSync(bad, `[Service]\nType=oneshot\nExecStart="${join(binDir, 'missing')}"\n`);
    const result = spawnSync('systemd-analyze', ['verify', '--man=no', bad], { encoding: 'utf8' });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/is not executable/);
  });
});
