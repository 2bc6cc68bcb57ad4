/**
 * The restore script's two renderings (src/steps/restore/script.ts): the boot's,
 * which restore-boot.sh runs on the next boot, and Node's, with this
 * restore's launch. Each is checked by dash for a whole script, with every value
 * a user wrote (a path with a quote or a newline) one word.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { renderActionScript, renderRestoreBootScript } from '../../../../src/render/artefacts.js';
import type { RestoreManifest } from '../../../../src/state/manifest.js';
import { BOOT_SCRIPT, NODE_SCRIPT } from '../../../../src/state/restore-record.js';
import { scriptContext, writeBootScript } from '../../../../src/steps/restore/script.js';
import type { HostPaths } from '../../../../src/tools/host-paths.js';
import rootShut from '../../../../templates/partials/root-shut.sh.hbs';
import window from '../../../../templates/partials/window.sh.hbs';

const HOST = {
  procCmdline: '/proc/cmdline',
  procBootId: '/proc/sys/kernel/random/boot_id',
  rulesMarker: '/run/kernel-leap/rules-loaded',
  procSys: '/proc/sys',
  savedSysctls: '/run/kernel-leap/sysctl',
  pathsLock: '/run/kernel-leap/paths.lock',
  udevData: '/run/udev/data',
} satisfies Partial<HostPaths>;

const ODD_FIFO = "/home/alice/it's\nodd $(id)/ctl";

function manifest(over: Partial<RestoreManifest> = {}): RestoreManifest {
  return {
    schema: 1,
    runId: 'r1',
    imagesDir: '/var/lib/kernel-leap/runs/r1/images',
    logsDir: '/var/lib/kernel-leap/runs/r1/logs',
    ptys: [3],
    connections: [{ local: { ip: '10.0.2.15', port: 22 }, peer: { ip: '10.0.2.2', port: 50000 } }],
    fifos: [{ path: ODD_FIFO, mode: 0o10620, uid: 1000, gid: 1000, key: 'file[af:2aa]', fd: 3 }],
    unixExternals: [],
    socketDirs: [{ path: '/tmp/tmux-0', mode: 0o40700, uid: 0, gid: 0 }],
    criu: {
      imagesDir: '/var/lib/kernel-leap/runs/r1/images',
      logFile: '/var/lib/kernel-leap/runs/r1/logs/restore.log',
      verbosity: 4,
      tcpEstablished: true,
      extUnixSk: true,
      fileLocks: true,
      manageCgroups: 'ignore',
      extra: [],
      inheritFds: [{ fd: 3, key: 'file[af:2aa]' }],
      actionScript: '/var/lib/kernel-leap/runs/r1/criu-action.sh',
    },
    rulesFile: '/var/lib/kernel-leap/lock-rules.v4',
    units: [],
    artefacts: [],
    addressTimeoutS: 30,
    restoreTimeoutS: 120,
    oldKernel: '6.1.0-55-cloud-amd64',
    newKernel: '6.1.0-56-cloud-amd64',
    ...over,
  };
}

const launch = { closeConnections: false, earlierPtys: new Map<number, number>() };

describe('the boot rendering', () => {
  it('runs on any boot, checks the dumped ptys, turns window scaling off, and launches criu as Node would at boot', () => {
    const runDir = mkdtempSync(join(tmpdir(), 'kl-render-'));
    writeBootScript(manifest(), runDir, HOST);
    const text = readFileSync(join(runDir, BOOT_SCRIPT.script), 'utf8');
    execFileSync('dash', ['-n', join(runDir, BOOT_SCRIPT.script)]);
    expect(text).toContain(`RECORD='${join(runDir, 'fast-restore')}'`);
    expect(text).not.toContain('cmdline');
    expect(text).toContain("for n in '3'; do");
    expect(text).toContain('unscaled || give_up sysctl');
    expect(text).toContain("make_socket_dir '0' '/tmp/tmux-0' '700' '0' '0'");
    expect(text).not.toContain('--tcp-close');
    expect(text).toContain("'systemd-run' '--scope' '--unit=kernel-leap-session-r1'");
  });
});

describe("Node's rendering", () => {
  const render = (
    over: Partial<RestoreManifest>,
    run: Partial<typeof launch> = {},
    checkPtys = true,
  ) =>
    scriptContext(manifest(over), '/var/lib/kernel-leap/runs/r1', NODE_SCRIPT, HOST, {
      ...launch,
      ...run,
      checkPtys,
    });

  it('runs on any boot, writes its own record, and names each FIFO by index with its numeric owner', () => {
    const ctx = render({});
    expect(ctx.record).toBe('/var/lib/kernel-leap/runs/r1/node-restore');
    expect(ctx.fifos).toEqual([{ index: 0, path: ODD_FIFO, mode: '620', uid: 1000, gid: 1000 }]);
  });

  it('with the connections shut down: --tcp-close, and window scaling left alone', () => {
    const ctx = render({}, { closeConnections: true });
    expect(ctx.argv).toContain('--tcp-close');
    expect(ctx.unscaled).toBe(false);
  });

  it('checks no pty once Node has remapped the taken ones', () => {
    expect(render({}, {}, false).ptys).toEqual([]);
    expect(render({}).ptys).toEqual([3]);
  });

  it("opens a held terminal where its owner's restore made it again, and a stand-in where none did", () => {
    const terminals = [{ pts: 3, key: 'tty[88c8:3]', fd: 9, nonBlocking: true }];
    expect(render({ terminals }, { earlierPtys: new Map([[3, 7]]) }).argv).toContain(
      'tty-nb:9:/dev/pts/7',
    );
    expect(render({ terminals }).argv).toContain('tty-nb:9:');
  });

  it('checks each file held by path, by index, with the numbers the dump kept and - for the others', () => {
    const reopenedFiles = [
      { path: ODD_FIFO, dev: 65025, ino: 77 },
      { path: '/srv/db', ino: 256 },
      { path: '/proc/stat' },
    ];
    expect(render({ reopenedFiles }).reopenedFiles).toEqual([
      { index: 0, path: ODD_FIFO, dev: 65025, ino: 77 },
      { index: 1, path: '/srv/db', dev: '-', ino: 256 },
      { index: 2, path: '/proc/stat', dev: '-', ino: '-' },
    ]);
    expect(render({}).reopenedFiles).toEqual([]);
    const runDir = mkdtempSync(join(tmpdir(), 'kl-render-'));
    writeBootScript(manifest({ reopenedFiles }), runDir, HOST);
    const text = readFileSync(join(runDir, BOOT_SCRIPT.script), 'utf8');
    execFileSync('dash', ['-n', join(runDir, BOOT_SCRIPT.script)]);
    expect(text).toContain("same_file '1' '/srv/db' '-' '256'");
    expect(text).toContain("same_file '2' '/proc/stat' '-' '-'");
    // Before anything is made for the tree, and before criu's launch.
    expect(text).toContain("\nsame_file '0' ");
    expect(text.indexOf("\nsame_file '0'")).toBeLessThan(text.indexOf('\nmake_fifo '));
  });

  it('keeps a path with a quote and a newline one word: dash reads it back as it was', () => {
    const runDir = mkdtempSync(join(tmpdir(), 'kl-render-'));
    writeBootScript(manifest(), runDir, HOST);
    const line = readFileSync(join(runDir, BOOT_SCRIPT.script), 'utf8')
      .split(/^make_fifo /m)[1]
      ?.split(/ '620'/)[0] as string;
    const probe = join(runDir, 'probe.sh');
    writeFileSync(probe, `printf '%s' ${line}`);
    expect(execFileSync('dash', [probe]).toString()).toBe('0' + ODD_FIFO);
  });
});

describe("root's own entries", () => {
  it("are made below directories the restore script and criu's action script check with the one root_shut", () => {
    const runDir = mkdtempSync(join(tmpdir(), 'kl-render-'));
    writeBootScript(manifest(), runDir, HOST);
    const restore = readFileSync(join(runDir, BOOT_SCRIPT.script), 'utf8');
    const action = renderActionScript({
      pidFile: 'p',
      pathsLock: 'k',
      heldDir: 'h',
      heldLog: 'l',
      heldFiles: [],
    });
    for (const script of [restore, action]) expect(script.split(rootShut)).toHaveLength(2);
  });
});

describe('the window scaling is off in', () => {
  it('is opened and closed by the one implementation, in the restore script and in restore-boot.sh, which holds it for its runs', () => {
    const runDir = mkdtempSync(join(tmpdir(), 'kl-render-'));
    writeBootScript(manifest(), runDir, HOST);
    const restore = readFileSync(join(runDir, BOOT_SCRIPT.script), 'utf8');
    const boot = renderRestoreBootScript({
      stateDir: '/var/lib/kernel-leap',
      node: '/usr/lib/kernel-leap/node',
      bundle: '/usr/lib/kernel-leap/kernel-leap.mjs',
      takeScript: '/var/lib/kernel-leap/take-pending.sh',
      resumeScript: '/var/lib/kernel-leap/resume-trees.sh',
      procSys: HOST.procSys,
      savedSysctls: HOST.savedSysctls,
    });
    for (const script of [restore, boot]) expect(script.split(window)).toHaveLength(2);
    expect(restore).toContain('[ "$WINDOW" = window-held ] || unscaled || give_up sysctl');
    expect(boot).toContain('restore-fast.sh" window-held');
  });
});
