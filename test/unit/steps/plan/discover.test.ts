import { describe, expect, it } from 'vitest';

import {
  callerLast,
  discover,
  listTree,
  sessionLogin,
  sessionRootOf,
} from '../../../../src/steps/plan/discover.js';
import { describeLoss, leftBehind, type Loss } from '../../../../src/steps/plan/losses.js';
import { whyNotSession } from '../../../../src/steps/plan/ssh-sessions.js';
import { snapshotProc } from '../../../../src/tools/procfs.js';
import {
  addLoginSession,
  type FakeTask,
  manySshSessions,
  restoredSshSession,
  ROOT_SCOPE,
  sshSession,
} from '../../../helpers/proc-fixture.js';

const proc = snapshotProc(sshSession());

describe('discover', () => {
  it('walks up from any process of the session to sshd: root@pts/0', () => {
    expect(sessionRootOf(proc, 534)).toEqual({
      pid: 441,
      name: 'sshd',
      cmdline: 'sshd: root@pts/0',
    });
    expect(sessionRootOf(proc, 441).pid).toBe(441);
    expect(discover(proc, { selfPid: 447 })[0]?.pid).toBe(441);
  });

  it('refuses the listener and pid 1, naming the ancestry and the flags to pass', () => {
    expect(() => sessionRootOf(proc, 380)).toThrowError(
      expect.objectContaining({ code: 'NOT_IN_SESSION', hint: expect.stringContaining('--pid') }),
    );
    expect(() => sessionRootOf(proc, 1)).toThrowError(/not inside an ssh session \(ancestors: 1\)/);
    expect(() => sessionRootOf(proc, 999)).toThrowError(
      expect.objectContaining({ code: 'PID_NOT_FOUND' }),
    );
  });

  it('finds a session by its tty, and lists every ssh session', () => {
    expect(discover(proc, { tty: 'pts/0', selfPid: 1 }).map((r) => r.pid)).toEqual([441]);
    expect(() => discover(proc, { tty: 'pts/7', selfPid: 1 })).toThrowError(
      expect.objectContaining({ code: 'TTY_NOT_FOUND' }),
    );
    expect(discover(proc, { allSsh: true, selfPid: 1 }).map((r) => r.cmdline)).toEqual([
      'sshd: root@pts/0',
    ]);
  });

  it("finds a tty's session past a process on it that leads to none (gone mid-walk, or adopted by init)", () => {
    // /proc lists pids in order, as the kernel does: the stray process comes first.
    const withStray = (tty: string) => {
      const snap = sshSession({
        extraTasks: [
          {
            pid: 300,
            ppid: 1,
            name: 'sleep',
            cmdline: 'sleep 0.2',
            fds: { 0: { target: `/dev/${tty}` } },
          },
        ],
      });
      snap.dirs['/proc']?.sort((a, b) => Number(a) - Number(b));
      return snapshotProc(snap);
    };
    expect(discover(withStray('pts/0'), { tty: 'pts/0', selfPid: 1 }).map((r) => r.pid)).toEqual([
      441,
    ]);
    expect(() => discover(withStray('pts/3'), { tty: 'pts/3', selfPid: 1 })).toThrowError(
      /process 300 is not inside an ssh session \(ancestors: 300 <- 1\)/,
    );
  });

  it('finds the root of a session restored under criu as its pid namespace init', () => {
    const restored = snapshotProc(restoredSshSession());
    expect(sessionRootOf(restored, 903)).toEqual({
      pid: 902,
      name: 'sshd',
      cmdline: 'sshd: root@pts/0',
    });
    expect(discover(restored, { allSsh: true, selfPid: 1 }).map((r) => r.pid)).toEqual([902]);
    expect(() => sessionRootOf(restored, 901)).toThrowError(
      expect.objectContaining({ code: 'NOT_IN_SESSION' }),
    );
  });

  it('lists the tree parents first, without excluded subtrees', () => {
    expect(listTree(proc, 441)).toEqual([441, 447, 534]);
    expect(listTree(proc, 441, new Set([447]))).toEqual([441]);
  });

  it("puts the caller's own session last, whatever the order found (behaviour 9)", () => {
    const roots = [441, 500, 600].map((pid) => ({
      pid,
      name: 'sshd',
      cmdline: `sshd: u${pid}@pts/0`,
    }));
    expect(callerLast(roots, 441).map((r) => r.pid)).toEqual([500, 600, 441]);
    expect(callerLast(roots, 500).map((r) => r.pid)).toEqual([441, 600, 500]);
    expect(callerLast(roots, undefined).map((r) => r.pid)).toEqual([441, 500, 600]);
  });

  it('lists every logged-in session of every user, by its privilege-separation monitor where it has one, in either naming', () => {
    const many = snapshotProc(manySshSessions());
    expect(discover(many, { allSsh: true, selfPid: 1 }).map((r) => [r.pid, r.cmdline])).toEqual([
      [441, 'sshd: root@pts/0'],
      [600, 'sshd: alice [priv]'],
      [700, 'sshd-session: bob [priv]'],
    ]);
  });

  it('walks up to the [priv] monitor from a non-root session, and takes sshd-session names', () => {
    const many = snapshotProc(manySshSessions());
    expect(sessionRootOf(many, 602).pid).toBe(600);
    expect(sessionRootOf(many, 702)).toEqual({
      pid: 700,
      name: 'sshd-session',
      cmdline: 'sshd-session: bob [priv]',
    });
    expect(discover(many, { tty: 'pts/2', selfPid: 1 }).map((r) => r.pid)).toEqual([700]);
  });
});

/** `exec -a 'sshd: root@pts/9' sleep 3600` as nobody, started by root outside any login (issue 27). */
const IMPOSTOR: FakeTask = {
  pid: 456,
  ppid: 1,
  name: 'sleep',
  cmdline: 'sshd: root@pts/9 3600',
  exe: '/usr/bin/sleep',
  uid: 65534,
  cgroup: '/system.slice/kl-impostor.service',
};

const withImpostor = (impostor: Partial<FakeTask> = {}) =>
  sshSession({ extraTasks: [{ ...IMPOSTOR, ...impostor }] });

describe('a session is what the kernel and logind say, never a title (issue 27)', () => {
  it("does not take a process titled `sshd: root@pts/9` for root's session, and lists it as nobody's process that the kexec ends", () => {
    const proc = snapshotProc(withImpostor());
    expect(discover(proc, { allSsh: true, selfPid: 1 }).map((r) => r.pid)).toEqual([441]);
    expect(() => sessionRootOf(proc, 456)).toThrowError(
      expect.objectContaining({
        code: 'NOT_IN_SESSION',
        message: expect.stringContaining('456: it runs /usr/bin/sleep, not sshd'),
        hint: expect.stringContaining('logind knows it'),
      }),
    );
    const lost = leftBehind(proc, [441], 'root');
    expect(lost).toEqual([
      {
        kind: 'not-a-session',
        pid: 456,
        user: 'nobody',
        tty: '?',
        cmdline: 'sshd: root@pts/9 3600',
        level: 'warn',
        why: 'it runs /usr/bin/sleep, not sshd',
      },
    ]);
    expect(describeLoss(lost[0] as Loss)).toBe(
      "a process of nobody's titled as an ssh session, which it is not (it runs /usr/bin/sleep, not sshd), not carried: pid 456 (sshd: root@pts/9 3600)",
    );
  });

  it('does not take the real sshd binary run by a user for a session: logind must know it, through sshd', () => {
    const ownSshd = { exe: '/usr/sbin/sshd', cmdline: 'sshd: root@pts/9' };
    // Started outside any login: no logind session.
    expect(whyNotSession(snapshotProc(withImpostor(ownSshd)), 456)).toBe(
      'it is in no login session of logind',
    );
    // Started through `su nobody -c …` (the recipe): a logind session, of su.
    const viaSu = withImpostor({ ...ownSshd, cgroup: undefined });
    addLoginSession(viaSu, {
      id: '9',
      leader: 455,
      uid: 65534,
      user: 'nobody',
      members: [456],
      service: 'su',
    });
    expect(whyNotSession(snapshotProc(viaSu), 456)).toBe("logind's session 9 is of su, not sshd");
    const proc = snapshotProc(viaSu);
    expect(discover(proc, { allSsh: true, selfPid: 1 }).map((r) => r.pid)).toEqual([441]);
    expect(leftBehind(proc, [441], 'root')).toEqual([
      expect.objectContaining({ kind: 'not-a-session', pid: 456, user: 'nobody' }),
    ]);
    // Moved into root's login scope by root (a user cannot): it does not lead that session.
    const inRootScope = withImpostor({ ...ownSshd, cgroup: ROOT_SCOPE });
    expect(whyNotSession(snapshotProc(inRootScope), 456)).toBe(
      "logind's session 5 is led by process 441",
    );
  });

  it('takes a session whose sshd binary a package upgrade replaced (`/usr/sbin/sshd (deleted)`)', () => {
    const proc = snapshotProc(sshSession({ session: { exe: '/usr/sbin/sshd (deleted)' } }));
    expect(discover(proc, { allSsh: true, selfPid: 1 }).map((r) => r.pid)).toEqual([441]);
    expect(sessionRootOf(proc, 534).pid).toBe(441);
    expect(sessionLogin(proc, 441)).toEqual({ user: 'root', tty: 'pts/0' });
  });

  it("takes OpenSSH 10's sshd-session, whose [priv] monitor leads logind's session", () => {
    const proc = snapshotProc(manySshSessions());
    expect(sessionLogin(proc, 700)).toEqual({ user: 'bob', tty: 'pts/2' });
    expect(sessionRootOf(proc, 702).pid).toBe(700);
  });

  it('names the user by logind and the uid of the sshd child that runs as the user, not by a title that lies', () => {
    const snap = manySshSessions();
    snap.texts['/proc/601/cmdline'] = 'sshd: root@pts/7\0';
    const proc = snapshotProc(snap);
    expect(sessionLogin(proc, 600)).toEqual({ user: 'alice', tty: 'pts/1' });
    expect(leftBehind(proc, [441], 'root').find((l) => l.pid === 600)).toMatchObject({
      kind: 'ssh-session',
      user: 'alice',
      tty: 'pts/1',
      level: 'fail',
    });
    // logind's user and the child's uid must agree: a session of uid 1000 whose child runs as root is none.
    snap.texts['/proc/601/status'] = (snap.texts['/proc/601/status'] ?? '').replace(
      /^Uid:.*$/m,
      'Uid:\t0\t0\t0\t0',
    );
    expect(whyNotSession(snapshotProc(snap), 600)).toBe(
      "its user process 601 runs as uid 0, logind's session 6 is uid 1000's",
    );
  });

  it('wants the leader under the sshd listener, or under pid 1 once the listener restarted', () => {
    const restarted = sshSession({ session: { ppid: 1 } });
    expect(discover(snapshotProc(restarted), { allSsh: true, selfPid: 1 })[0]?.pid).toBe(441);
    const underShell = manySshSessions();
    underShell.texts['/proc/600/status'] = (underShell.texts['/proc/600/status'] ?? '').replace(
      /^PPid:.*$/m,
      'PPid:\t447',
    );
    expect(whyNotSession(snapshotProc(underShell), 600)).toBe(
      'its parent 447 is not the sshd listener',
    );
  });

  it('takes a session a leap restored by its kernel-leap scope and criu, not by a scope of that name a user made', () => {
    const restored = snapshotProc(restoredSshSession());
    expect(sessionLogin(restored, 902)).toEqual({ user: 'root', tty: 'pts/0' });
    const userScope = restoredSshSession();
    userScope.texts['/proc/902/cgroup'] =
      '0::/user.slice/user-1000.slice/user@1000.service/app.slice/kernel-leap-session-x.scope\n';
    expect(() => sessionRootOf(snapshotProc(userScope), 903)).toThrowError(
      expect.objectContaining({
        code: 'NOT_IN_SESSION',
        message: expect.stringContaining('902: it is in no login session of logind'),
      }),
    );
  });
});
