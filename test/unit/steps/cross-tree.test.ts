import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { crossTreeStreams, describeCrossTreeStream, hangUpClients, terminalHangUps, withHangUps, withTerminalsKept } from '../../../src/steps/cross-tree.js';
import { collectFacts } from '../../../src/steps/plan-facts.js';
import { plan } from '../../../src/steps/plan.js';
import { bindPlan } from '../../../src/steps/planning.js';
import { snapshotProc } from '../../../src/tools/procfs.js';
import { sshSession } from '../../helpers/proc-fixture.js';

// A tmux client (pid 460, in ssh tree 441) attached to its server (950, a tree of the session's scope).
const client = { rootPid: 441, unixExternals: [{ pid: 460, fd: 5, inode: 30003, peerInode: 30002, peerPath: '/tmp/tmux-0/default' }, { pid: 441, fd: 6, inode: 20001, peerInode: 20002, peerPath: '/run/dbus/system_bus_socket' }] };
const server = { rootPid: 950, unixExternals: [{ pid: 950, fd: 9, inode: 30002, peerInode: 30003, peerPath: undefined }] };

describe('unix streams between two carried trees', () => {
  it('pairs the two ends once, named by the listening path, and leaves streams to the outside alone', () => {
    const streams = crossTreeStreams([client, server]);
    expect(streams).toEqual([{ ends: [{ root: 950, pid: 950, fd: 9, inode: 30002 }, { root: 441, pid: 460, fd: 5, inode: 30003 }], path: '/tmp/tmux-0/default' }]);
    expect(describeCrossTreeStream(streams[0] as never)).toMatch(/^unix stream to \/tmp\/tmux-0\/default between tree 950 .* and tree 441 .*: not rejoined; .*the server lives on/);
  });

  it('finds none within one tree or with only one end carried', () => {
    expect(crossTreeStreams([client])).toEqual([]);
    expect(crossTreeStreams([{ rootPid: 441, unixExternals: [...client.unixExternals, { pid: 441, fd: 7, inode: 30002, peerInode: 30003, peerPath: undefined }] }])).toEqual([]);
  });
});

/** The tmux server 950 attached by client 460 of the ssh tree: it holds the client's terminal, pts/0, and its own pane's pair, pts/1. */
function attached() {
  const snap = sshSession({
    extraTasks: [
      { pid: 460, ppid: 447, name: 'tmux: client', cmdline: 'tmux attach', fds: { 0: { target: '/dev/pts/0' }, 5: { target: 'socket:[30003]' } } },
      { pid: 950, ppid: 1, name: 'tmux: server', cmdline: 'tmux new -d -s work', fds: { 7: { target: '/dev/ptmx', ttyIndex: 1 }, 9: { target: 'socket:[30002]' }, 10: { target: '/dev/pts/0' } } },
      { pid: 951, ppid: 950, name: 'sh', cmdline: 'sh -c loop', fds: { 0: { target: '/dev/pts/1' } } },
    ],
  });
  snap.texts['/proc/950/net/unix'] = 'Num RefCount Protocol Flags Type St Inode Path\n0: 00000003 00000000 00000000 0001 03 30002 /tmp/tmux-0/default\n0: 00000003 00000000 00000000 0001 03 30003\n';
  return snapshotProc(snap);
}

describe('a tree that holds another tree\'s terminal (an attached tmux server)', () => {
  const peers = new Map([[30002, 30003], [30003, 30002]]);
  const server = plan(collectFacts(attached(), 950, peers));

  it('is a no-go on its own: criu cannot restore a terminal without its master', () => {
    expect(server.foreignTerminals).toEqual([0]);
    expect(server.risks).toContainEqual(expect.objectContaining({ level: 'fail', code: 'FOREIGN_TERMINAL' }));
    expect(server.verdict).toBe('no-go');
    expect(plan(collectFacts(attached(), 441, peers)).foreignTerminals).toEqual([]);
  });

  it('goes once its client, the other end of its stream, is hung up before the dump', () => {
    const ssh = { rootPid: 441, unixExternals: [{ pid: 460, fd: 5, inode: 30003, peerInode: 30002, peerPath: '/tmp/tmux-0/default' }], foreignTerminals: [] };
    const hangUps = terminalHangUps([ssh, server]);
    expect(hangUps).toEqual([{ client: 460, tree: 950, terminals: [0] }]);
    const resolved = withHangUps(server, hangUps);
    expect(resolved.verdict).toBe('go');
    expect(resolved.risks).toContainEqual(expect.objectContaining({ level: 'warn', code: 'HANG_UP', message: expect.stringContaining('(pid 460) get SIGHUP before the dump') }));
    expect(withHangUps(server, [])).toBe(server);
    expect(withHangUps(server, hangUps, 'rehearse').risks).toContainEqual(expect.objectContaining({ code: 'HANG_UP', message: expect.stringContaining('the upgrade hangs up its client (pid 460) before the dump; this rehearsal leaves them attached') }));
  });

  it('is rehearsed with the client attached: its terminal is dumped as an external tty[rdev:dev], in hex', () => {
    const config = loadConfig({ env: {}, file: undefined }).config;
    const proc = attached();
    const devpts = { ...proc, stat: (path: string) => path === '/dev/pts/0' ? { ino: 3, mode: 0o020620, nlink: 1, size: 0, uid: 0, gid: 5, rdev: 0x8800, dev: 0x18 } : proc.stat(path) };
    const kept = withTerminalsKept(bindPlan(server, config), config, devpts);
    expect(kept.verdict).toBe('go');
    expect(kept.risks).toContainEqual(expect.objectContaining({ level: 'ok', code: 'TERMINAL_KEPT' }));
    expect(kept.dumpArgs('/i', '/l', { leaveRunning: true }).join(' ')).toContain('--external tty[8800:18]');
    const alone = bindPlan(plan(collectFacts(attached(), 441, peers)), config);
    expect(withTerminalsKept(alone, config, devpts)).toBe(alone);
  });

  it('waits for the tree to let go of the terminal, and says what to do when it does not', async () => {
    await expect(hangUpClients(attached(), [{ client: 2 ** 22 + 7, tree: 950, terminals: [0] }], 200)).rejects.toMatchObject({ code: 'TERMINAL_HELD', hint: expect.stringContaining('tmux detach') });
    await expect(hangUpClients(attached(), [{ client: 2 ** 22 + 7, tree: 950, terminals: [5] }], 200)).resolves.toBeUndefined();
  });
});
