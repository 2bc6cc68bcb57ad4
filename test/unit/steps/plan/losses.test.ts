import { describe, expect, it } from 'vitest';

import { describeLoss, leftBehind } from '../../../../src/steps/plan/losses.js';
import { snapshotProc } from '../../../../src/tools/procfs.js';
import { manySshSessions, RESTORED_SCOPE, ROOT_SCOPE } from '../../../helpers/proc-fixture.js';

/** manySshSessions, with root's login session holding a tmux server (950) that left the ssh tree. */
function machine() {
  const snap = manySshSessions();
  snap.texts['/proc/441/cgroup'] = `0::${ROOT_SCOPE}\n`;
  snap.texts[`/sys/fs/cgroup${ROOT_SCOPE}/cgroup.procs`] = '441\n447\n534\n950\n960\n';
  snap.texts['/proc/950/status'] =
    'Name:\ttmux: server\nState:\tS (sleeping)\nPPid:\t1\nNSpid:\t950\n';
  snap.texts['/proc/950/cmdline'] = 'tmux\0new\0-d\0-s\0work\0';
  // Born into the ssh tree after it was listed (a ticker's next sleep): read from the scope, not from the tree.
  snap.texts['/proc/960/status'] = 'Name:\tsleep\nState:\tS (sleeping)\nPPid:\t447\nNSpid:\t960\n';
  return snapshotProc(snap);
}

describe('what the kexec ends that the leap does not carry', () => {
  it("lists every other logged-in session with its user, tty and pid: another user's is a no-go, the same user's a warning", () => {
    const losses = leftBehind(machine(), [441], 'root');
    expect(
      losses.filter((l) => l.kind === 'ssh-session').map((l) => [l.pid, l.user, l.tty, l.level]),
    ).toEqual([
      [600, 'alice', 'pts/1', 'fail'],
      [700, 'bob', 'pts/2', 'fail'],
    ]);
    expect(leftBehind(machine(), [600], 'alice').find((l) => l.pid === 441)).toMatchObject({
      user: 'root',
      tty: 'pts/0',
      level: 'fail',
    });
    expect(describeLoss(losses[0] as never)).toBe(
      "alice's ssh session on pts/1: pid 600 (sshd: alice [priv])",
    );
  });

  it('leaves out a session whose connection closed while the plan read it: its leader gone to a zombie, or past freeing its memory', () => {
    // Seen in the guest: a closing session read as "?'s ssh session on ?: pid 1707 ()" and vetoed the leap.
    const zombie = manySshSessions();
    zombie.texts['/proc/700/status'] = zombie.texts['/proc/700/status']?.replace(
      /^State:.*$/m,
      'State:\tZ (zombie)',
    ) as string;
    const exiting = manySshSessions();
    exiting.texts['/proc/700/cmdline'] = '';
    for (const snap of [zombie, exiting])
      expect(
        leftBehind(snapshotProc(snap), [441], 'root')
          .filter((l) => l.kind === 'ssh-session')
          .map((l) => l.pid),
      ).toEqual([600]);
  });

  it('lists the processes of a carried login session that live outside its tree, such as a tmux server', () => {
    const outside = leftBehind(machine(), [441, 600, 700], 'root');
    expect(outside).toEqual([
      {
        kind: 'session-process',
        pid: 950,
        user: 'root',
        tty: 'pts/0',
        cmdline: 'tmux new -d -s work',
        level: 'warn',
      },
    ]);
    expect(leftBehind(machine(), [441, 600, 700], 'root', new Set([950]))).toEqual([]);
  });

  it('lists a tree an earlier leap restored that no carried tree holds: its tmux server, under its criu, in a kernel-leap scope', () => {
    const snap = manySshSessions();
    // criu is pid 1 of the namespace it restored the tree into (the tree's own pids, 1 and 2 there).
    const restored = {
      900: ['criu', 1, 'criu restore -D /x', '900\t1'],
      901: ['tmux: server', 900, 'tmux new -d -s work', '901\t2'],
      902: ['bash', 901, 'bash', '902\t3'],
    } as const;
    for (const [pid, [name, ppid, cmdline, nsPids]] of Object.entries(restored)) {
      snap.dirs['/proc']?.push(pid);
      snap.texts[`/proc/${pid}/status`] =
        `Name:\t${name}\nState:\tS (sleeping)\nPPid:\t${ppid}\nUid:\t0\t0\t0\t0\nNSpid:\t${nsPids}\n`;
      snap.texts[`/proc/${pid}/cmdline`] = `${cmdline.split(' ').join('\0')}\0`;
      snap.texts[`/proc/${pid}/cgroup`] = `0::${RESTORED_SCOPE}\n`;
    }
    snap.links['/proc/900/exe'] = '/usr/sbin/criu';
    const lost = leftBehind(snapshotProc(snap), [441, 600, 700], 'root').filter(
      (l) => l.kind === 'restored-tree',
    );
    expect(lost).toEqual([
      {
        kind: 'restored-tree',
        pid: 901,
        user: 'root',
        tty: '?',
        cmdline: 'tmux new -d -s work',
        level: 'warn',
      },
    ]);
    expect(describeLoss(lost[0] as never)).toBe(
      "a tree of root's that an earlier leap restored (a tmux server or a nohup job of a session that leapt before), not carried: pid 901 (tmux new -d -s work)",
    );
    expect(
      leftBehind(snapshotProc(snap), [441, 600, 700, 901], 'root').filter(
        (l) => l.kind === 'restored-tree',
      ),
    ).toEqual([]);
  });
});
