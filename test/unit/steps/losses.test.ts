import { describe, expect, it } from 'vitest';
import { describeLoss, leftBehind } from '../../../src/steps/losses.js';
import { snapshotProc } from '../../../src/tools/procfs.js';
import { manySshSessions } from '../../helpers/proc-fixture.js';

const ROOT_SCOPE = '/user.slice/user-0.slice/session-3.scope';

/** manySshSessions, with root's login session holding a tmux server (950) that left the ssh tree. */
function machine() {
  const snap = manySshSessions();
  snap.texts['/proc/441/cgroup'] = `0::${ROOT_SCOPE}\n`;
  snap.texts[`/sys/fs/cgroup${ROOT_SCOPE}/cgroup.procs`] = '441\n447\n534\n950\n960\n';
  snap.texts['/proc/950/status'] = 'Name:\ttmux: server\nState:\tS (sleeping)\nPPid:\t1\nNSpid:\t950\n';
  snap.texts['/proc/950/cmdline'] = 'tmux\0new\0-d\0-s\0work\0';
  // Born into the ssh tree after it was listed (a ticker's next sleep): read from the scope, not from the tree.
  snap.texts['/proc/960/status'] = 'Name:\tsleep\nState:\tS (sleeping)\nPPid:\t447\nNSpid:\t960\n';
  return snapshotProc(snap);
}

describe('what the kexec ends that the leap does not carry', () => {
  it('lists every other logged-in session with its user, tty and pid: another user\'s is a no-go, the same user\'s a warning', () => {
    const losses = leftBehind(machine(), [441], 'root');
    expect(losses.filter((l) => l.kind === 'ssh-session').map((l) => [l.pid, l.user, l.tty, l.level])).toEqual([
      [600, 'alice', 'pts/1', 'fail'], [700, 'bob', 'pts/2', 'fail'],
    ]);
    expect(leftBehind(machine(), [600], 'alice').find((l) => l.pid === 441)).toMatchObject({ user: 'root', tty: 'pts/0', level: 'fail' });
    expect(describeLoss(losses[0] as never)).toBe('alice\'s ssh session on pts/1: pid 600 (sshd: alice [priv])');
  });

  it('lists the processes of a carried login session that live outside its tree, such as a tmux server', () => {
    const outside = leftBehind(machine(), [441, 600, 700], 'root');
    expect(outside).toEqual([{ kind: 'session-process', pid: 950, user: 'root', tty: 'pts/0', cmdline: 'tmux new -d -s work', level: 'warn' }]);
    expect(leftBehind(machine(), [441, 600, 700], 'root', new Set([950]))).toEqual([]);
  });
});
