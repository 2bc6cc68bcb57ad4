import { describe, expect, it } from 'vitest';

import { loadConfig } from '../../../../src/config/load.js';
import { plan } from '../../../../src/steps/plan/classify.js';
import {
  callerLast,
  sessionLogin,
  sessionRootOf,
  treeHolding,
} from '../../../../src/steps/plan/discover.js';
import { collectFacts } from '../../../../src/steps/plan/facts.js';
import { leftBehind } from '../../../../src/steps/plan/losses.js';
import { withScopeTrees } from '../../../../src/steps/plan/scope-trees.js';
import { bindPlan } from '../../../../src/steps/plan/session-plan.js';
import { snapshotProc } from '../../../../src/tools/procfs.js';
import { ROOT_SCOPE as SCOPE, sshSession } from '../../../helpers/proc-fixture.js';
const TMUX_SOCKETS = `Num       RefCount Protocol Flags    Type St Inode Path
0000000000000000: 00000002 00000000 00010000 0001 01 30001 /tmp/tmux-0/default
0000000000000000: 00000003 00000000 00000000 0001 03 30002 /tmp/tmux-0/default
`;

/**
 * Root's ssh session 441 (bash 447, sleep 534) and what it started that left its
 * tree but not its logind scope: `tmux new -d` (server 950 under pid 1, its
 * window's loop 951 and sleep 952), a nohup job 960 whose shell exited (still in
 * bash 447's session), and a `setsid` job 970. 980 is in another scope; 990 is
 * our own foreground; 991 was born into the ssh tree after it was listed.
 */
function machine() {
  const snap = sshSession({
    extraTasks: [
      {
        pid: 950,
        ppid: 1,
        name: 'tmux: server',
        cmdline: 'tmux new -d -s work',
        fds: {
          3: { target: 'socket:[30001]' },
          5: { target: 'socket:[30002]' },
          7: { target: '/dev/ptmx', ttyIndex: 1, stat: { mode: 0o020666 } },
        },
      },
      {
        pid: 951,
        ppid: 950,
        name: 'sh',
        cmdline: 'sh -c while :; do uname -r > /root/tmux-k; sleep 1; done',
        fds: { 0: { target: '/dev/pts/1' } },
      },
      { pid: 952, ppid: 951, name: 'sleep', cmdline: 'sleep 1' },
      {
        pid: 960,
        ppid: 1,
        name: 'sh',
        cmdline: 'sh -c while :; do uname -r > /root/nohup-k; sleep 1; done',
        sid: 447,
      },
      { pid: 961, ppid: 960, name: 'sleep', cmdline: 'sleep 1', sid: 447 },
      { pid: 970, ppid: 1, name: 'sleep', cmdline: 'sleep 1000', sid: 970 },
      { pid: 980, ppid: 1, name: 'cron', cmdline: '/usr/sbin/cron -f' },
      { pid: 990, ppid: 1, name: 'node', cmdline: 'node kernel-leap plan' },
      { pid: 991, ppid: 447, name: 'sleep', cmdline: 'sleep 1' },
    ],
  });
  const members = [441, 447, 534, 950, 951, 952, 960, 961, 970, 990, 991];
  for (const pid of members) snap.texts[`/proc/${pid}/cgroup`] = `0::${SCOPE}\n`;
  snap.texts[`/sys/fs/cgroup${SCOPE}/cgroup.procs`] = `${members.join('\n')}\n`;
  snap.texts['/proc/950/net/unix'] = TMUX_SOCKETS;
  snap.stats['/tmp/tmux-0'] = { ino: 5, mode: 0o040700, nlink: 2, size: 60, uid: 0, gid: 0 };
  return snapshotProc(snap);
}

const session = { pid: 441, name: 'sshd', cmdline: 'sshd: root@pts/0' };

describe('the trees of a carried login session outside its ssh tree', () => {
  it('roots one tree at each topmost scope member outside the ssh tree: a tmux server, a nohup job, a setsid job', () => {
    const roots = withScopeTrees(machine(), [session], new Set([990]));
    expect(roots.map((r) => r.pid)).toEqual([441, 950, 960, 970]);
    expect(roots[1]).toEqual({
      pid: 950,
      name: 'tmux: server',
      cmdline: 'tmux new -d -s work',
      scopeTree: { session: 441, scope: SCOPE },
    });
  });

  it('leaves nothing of the scope behind once those trees are carried', () => {
    const proc = machine();
    expect(leftBehind(proc, [441], 'root', new Set([990])).map((l) => l.pid)).toEqual([
      950, 951, 952, 960, 961, 970,
    ]);
    expect(
      leftBehind(
        proc,
        withScopeTrees(proc, [session], new Set([990])).map((r) => r.pid),
        'root',
        new Set([990]),
      ),
    ).toEqual([]);
  });

  it("from a tmux window (no sshd above it), finds the ssh session through the login scope, and puts the tmux tree last as the caller's", () => {
    const proc = machine();
    expect(sessionRootOf(proc, 951).pid).toBe(441);
    const roots = withScopeTrees(proc, [sessionRootOf(proc, 951)], new Set([990]));
    expect(treeHolding(proc, roots, 952)).toBe(950);
    expect(callerLast(roots, treeHolding(proc, roots, 952)).map((r) => r.pid)).toEqual([
      441, 960, 970, 950,
    ]);
    expect(sessionLogin(proc, 950)).toEqual({ user: 'root', tty: 'pts/0' });
  });

  it('adds no tree for a session outside any logind scope', () => {
    expect(withScopeTrees(snapshotProc(sshSession()), [session], new Set())).toEqual([session]);
  });

  it('dumps and restores a job that does not lead its session with --shell-job', () => {
    const job = bindPlan(
      plan(collectFacts(machine(), 960, new Map())),
      loadConfig({ env: {}, file: undefined }).config,
    );
    expect(job.shellJob).toBe(true);
    expect(job.pids).toEqual([960, 961]);
    expect(job.dumpArgs('/i', '/l')).toContain('--shell-job');
    expect(job.restoreOptions('/i', '/l', '/a').shellJob).toBe(true);
    expect(job.risks).toContainEqual(expect.objectContaining({ level: 'ok', code: 'SHELL_JOB' }));
    const setsid = bindPlan(
      plan(collectFacts(machine(), 970, new Map())),
      loadConfig({ env: {}, file: undefined }).config,
    );
    expect(setsid.dumpArgs('/i', '/l')).not.toContain('--shell-job');
  });

  it('keeps the directory of the socket tmux listens on, to make it again if the boot removed it', () => {
    const server = plan(collectFacts(machine(), 950, new Map([[30002, 30003]])));
    expect(server.socketDirs).toEqual([{ path: '/tmp/tmux-0', mode: 0o700, uid: 0, gid: 0 }]);
    expect(server.ptys).toEqual([1]);
    expect(server.shellJob).toBe(false);
  });
});
