import { describe, expect, it } from 'vitest';

import { loadConfig } from '../../../../src/config/load.js';
import { plan } from '../../../../src/steps/plan/classify.js';
import {
  crossTreeStreams,
  describeCrossTreeStream,
  keepHeldTerminals,
  withRejoins,
} from '../../../../src/steps/plan/cross-tree.js';
import { collectFacts } from '../../../../src/steps/plan/facts.js';
import { bindPlan } from '../../../../src/steps/plan/session-plan.js';
import { snapshotProc } from '../../../../src/tools/procfs.js';
import { sshSession } from '../../../helpers/proc-fixture.js';

// A tmux client (pid 460, in ssh tree 441) attached to its server (950, a tree of the session's scope).
const client = {
  rootPid: 441,
  unixExternals: [
    { pid: 460, fd: 5, inode: 30003, peerInode: 30002, peerPath: '/tmp/tmux-0/default' },
    { pid: 441, fd: 6, inode: 20001, peerInode: 20002, peerPath: '/run/dbus/system_bus_socket' },
  ],
};
const server = {
  rootPid: 950,
  unixExternals: [{ pid: 950, fd: 9, inode: 30002, peerInode: 30003, peerPath: undefined }],
};

describe('unix streams between two carried trees', () => {
  it('pairs the two ends once, named by the listening path, and leaves streams to the outside alone', () => {
    const streams = crossTreeStreams([client, server]);
    expect(streams).toEqual([
      {
        ends: [
          { root: 950, pid: 950, fd: 9, inode: 30002 },
          { root: 441, pid: 460, fd: 5, inode: 30003 },
        ],
        path: '/tmp/tmux-0/default',
      },
    ]);
    expect(describeCrossTreeStream(streams[0] as never)).toMatch(
      /^unix stream to \/tmp\/tmux-0\/default between tree 950 .* and tree 441 .*: rejoined at the restore, one new socketpair for its two ends/,
    );
  });

  it('finds none within one tree or with only one end carried', () => {
    expect(crossTreeStreams([client])).toEqual([]);
    expect(
      crossTreeStreams([
        {
          rootPid: 441,
          unixExternals: [
            ...client.unixExternals,
            { pid: 441, fd: 7, inode: 30002, peerInode: 30003, peerPath: undefined },
          ],
        },
      ]),
    ).toEqual([]);
  });
});

/** The tmux server 950 attached by client 460 of the ssh tree: it holds the client's terminal, pts/0, and its own pane's pair, pts/1. */
function attached() {
  const snap = sshSession({
    extraTasks: [
      {
        pid: 460,
        ppid: 447,
        name: 'tmux: client',
        cmdline: 'tmux attach',
        fds: { 0: { target: '/dev/pts/0' }, 5: { target: 'socket:[30003]' } },
      },
      {
        pid: 950,
        ppid: 1,
        name: 'tmux: server',
        cmdline: 'tmux new -d -s work',
        fds: {
          7: { target: '/dev/ptmx', ttyIndex: 1 },
          9: { target: 'socket:[30002]' },
          10: { target: '/dev/pts/0', flags: 0o4002 },
        },
      },
      {
        pid: 951,
        ppid: 950,
        name: 'sh',
        cmdline: 'sh -c loop',
        fds: { 0: { target: '/dev/pts/1' } },
      },
    ],
  });
  snap.texts['/proc/950/net/unix'] =
    'Num RefCount Protocol Flags Type St Inode Path\n0: 00000003 00000000 00000000 0001 03 30002 /tmp/tmux-0/default\n0: 00000003 00000000 00000000 0001 03 30003\n';
  return snapshotProc(snap);
}

describe("a tree that holds another tree's terminal (an attached tmux server)", () => {
  const peers = new Map([
    [30002, 30003],
    [30003, 30002],
  ]);
  const server = plan(collectFacts(attached(), 950, peers));

  it('is a no-go on its own: criu cannot restore a terminal without its master', () => {
    expect(server.foreignTerminals).toEqual([0]);
    expect(server.risks).toContainEqual(
      expect.objectContaining({ level: 'fail', code: 'FOREIGN_TERMINAL' }),
    );
    expect(server.verdict).toBe('no-go');
    expect(plan(collectFacts(attached(), 441, peers)).foreignTerminals).toEqual([]);
  });

  it('is kept with its owner: the terminal is dumped as an external tty[rdev:dev], in hex, and handed back at the restore', () => {
    const config = loadConfig({ env: {}, file: undefined }).config;
    const proc = attached();
    const devpts = {
      ...proc,
      stat: (path: string) =>
        path === '/dev/pts/0'
          ? { ino: 3, mode: 0o020620, nlink: 1, size: 0, uid: 0, gid: 5, rdev: 0x8800, dev: 0x18 }
          : proc.stat(path),
    };
    const ssh = bindPlan(plan(collectFacts(proc, 441, peers)), config);
    const [keptSsh, kept] = keepHeldTerminals([ssh, bindPlan(server, config)], config, devpts);
    // The owner is left stopped after its dump: dead, it would hang the terminal up before the server's dump.
    expect(keptSsh?.dumpArgs('/i', '/l')).toContain('--leave-stopped');
    expect(ssh.dumpArgs('/i', '/l')).not.toContain('--leave-stopped');
    expect(kept?.verdict).toBe('go');
    expect(kept?.risks).toContainEqual(
      expect.objectContaining({
        level: 'ok',
        code: 'TERMINAL_KEPT',
        message: expect.stringContaining("the tree holds /dev/pts/0, tree 441's terminal"),
      }),
    );
    expect(kept?.ptys).toEqual([1]);
    expect(kept?.dumpArgs('/i', '/l', { leaveRunning: true }).join(' ')).toContain(
      '--external tty[8800:18]',
    );
    // tmux holds it O_NONBLOCK: the fd opened at the restore is made alike.
    expect(kept?.terminals).toEqual([{ pts: 0, key: 'tty[8800:18]', nonBlocking: true, fd: 4 }]);
    expect(kept?.restoreOptions('/i', '/l', '/a').inheritFds).toContainEqual({
      fd: 4,
      key: 'tty[8800:18]',
    });
  });

  it('stays a no-go when the tree that owns the terminal is not carried', () => {
    const config = loadConfig({ env: {}, file: undefined }).config;
    const [alone] = keepHeldTerminals([bindPlan(server, config)], config, attached());
    expect(alone?.verdict).toBe('no-go');
    expect(alone?.keptTerminals).toEqual([]);
  });
});

describe('streams between two trees of one leap', () => {
  it('name both ends alike for the restore to rejoin, and leave a stream to the outside closed', () => {
    const config = loadConfig({ env: {}, file: undefined }).config;
    const proc = attached();
    const peers = new Map([
      [30002, 30003],
      [30003, 30002],
    ]);
    const plans = [client, server].map((t) =>
      bindPlan(
        { ...plan(collectFacts(proc, t.rootPid, peers)), unixExternals: t.unixExternals },
        config,
      ),
    );
    const [ssh, tmux] = withRejoins(plans, 'run-7', config);
    expect(ssh?.unixReconnects).toEqual([
      expect.objectContaining({ key: 'socket:[30003]', rejoin: 'kernel-leap-run-7-30002-30003' }),
      { key: 'socket:[20001]', fd: 5, peerPath: '/run/dbus/system_bus_socket' },
    ]);
    expect(tmux?.unixReconnects).toEqual([
      expect.objectContaining({ key: 'socket:[30002]', rejoin: 'kernel-leap-run-7-30002-30003' }),
    ]);
    // Both are left stopped after their dumps: the one dumped first must not close its end under the other's dump.
    for (const p of [ssh, tmux]) expect(p?.dumpArgs('/i', '/l')).toContain('--leave-stopped');
    expect(tmux?.risks).toContainEqual(
      expect.objectContaining({
        level: 'ok',
        code: 'UNIX_REJOINED',
        message: expect.stringContaining('unix stream socket 30002 to another carried tree'),
      }),
    );
    expect(tmux?.risks.map((r) => r.code)).not.toContain('UNIX_EXTERNAL');
    const outside = plans[0] as never;
    expect(withRejoins([outside], 'run-7', config)[0]).toBe(outside);
  });
});
