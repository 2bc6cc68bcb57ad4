import { describe, expect, it } from 'vitest';

import {
  callerLast,
  discover,
  listTree,
  sessionRootOf,
} from '../../../../src/steps/plan/discover.js';
import { snapshotProc } from '../../../../src/tools/procfs.js';
import { manySshSessions, restoredSshSession, sshSession } from '../../../helpers/proc-fixture.js';

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
