/**
 * The files criu opens again by path, as root, for a tree of a user other than
 * root: which the plan records (regular files held at a path, not deleted, not
 * those the boot clears and their owner makes again), and with which numbers (the
 * open file's device where a boot keeps it, its inode but on the kernel's own
 * file systems).
 */
import { describe, expect, it } from 'vitest';

import { loadConfig } from '../../../../src/config/load.js';
import { plan } from '../../../../src/steps/plan/classify.js';
import { collectFacts } from '../../../../src/steps/plan/facts.js';
import { majorOf, reopenedFilesOf } from '../../../../src/steps/plan/reopened-files.js';
import { bindPlan, planSummary } from '../../../../src/steps/plan/session-plan.js';
import { type ProcSnapshot, snapshotProc } from '../../../../src/tools/procfs.js';
import { sshSession } from '../../../helpers/proc-fixture.js';

const MOUNTINFO = [
  '21 27 0:21 / /proc rw,nosuid - proc proc rw',
  '22 27 0:20 / /sys rw,nosuid - sysfs sysfs rw',
  '27 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw',
  '30 27 0:40 / /srv rw,relatime shared:2 - btrfs /dev/vdb rw,subvol=/srv',
  '40 27 0:50 / /run/user/1000 rw,nosuid,nodev,relatime shared:10 - tmpfs tmpfs rw',
  '',
].join('\n');

/** 254:1, /dev/vda1, as Node's stat reports it. */
const VDA1 = (254 << 8) | 1;
const file = (dev: number, ino: number, mode = 0o100644) => ({
  dev,
  ino,
  nlink: 1,
  mode,
  size: 12,
  uid: 1000,
  gid: 1000,
});

/** Root's session with a process of alice's (`uid`) under its shell, holding `fds`. */
function holding(uid: number): ProcSnapshot {
  const snap = sshSession({
    extraTasks: [
      {
        pid: 560,
        ppid: 447,
        name: 'editor',
        cmdline: 'editor notes',
        exe: '/usr/bin/editor',
        uid,
        fds: {
          3: { target: '/home/alice/notes', mntId: 27, stat: file(VDA1, 77) },
          4: { target: '/home/alice/notes', mntId: 27, stat: file(VDA1, 77) },
          5: { target: '/home/alice/old (deleted)', mntId: 27, stat: file(VDA1, 78) },
          6: { target: '/home/alice/ctl', mntId: 27, stat: file(VDA1, 79, 0o010600) },
          7: { target: '/srv/data/db', mntId: 30, stat: file(40, 256) },
          8: { target: '/proc/stat', mntId: 21, stat: file(21, 4026531888) },
          9: { target: '/run/user/1000/held', mntId: 40, stat: file(50, 80) },
          10: { target: "/home/alice/it's\nodd", mntId: 27, stat: file(VDA1, 81) },
        },
      },
    ],
  });
  snap.texts['/proc/560/mountinfo'] = MOUNTINFO;
  return snap;
}

const tasksOf = (snap: ProcSnapshot) => collectFacts(snapshotProc(snap), 441, new Map()).tasks;

describe('the files a tree holds by path', () => {
  it('are, for a tree with a process of a user, each regular file at a path once, with the numbers a boot keeps', () => {
    const snap = holding(1000);
    const found = reopenedFilesOf(
      snapshotProc(snap),
      tasksOf(snap),
      new Set(['/run/user/1000/held']),
    );
    expect(found).toEqual([
      { path: '/home/alice/notes', dev: VDA1, ino: 77 },
      // btrfs numbers its subvolumes' devices as it mounts them: the inode alone.
      { path: '/srv/data/db', dev: undefined, ino: 256 },
      // The kernel numbers its own files anew each boot: only the walk is checked.
      { path: '/proc/stat' },
      { path: "/home/alice/it's\nodd", dev: VDA1, ino: 81 },
    ]);
  });

  it('are none for a tree of root’s alone: it holds nothing a user could have made it hold', () => {
    const snap = holding(0);
    expect(reopenedFilesOf(snapshotProc(snap), tasksOf(snap), new Set())).toEqual([]);
  });

  it('count a process whose uid a recording did not keep as a user’s', () => {
    const snap = holding(0);
    const tasks = tasksOf(snap).map((t) => (t.pid === 560 ? { ...t, uid: undefined } : t));
    expect(reopenedFilesOf(snapshotProc(snap), tasks, new Set())).toHaveLength(5);
  });

  it('go into the plan and its summary', () => {
    const snap = holding(1000);
    const facts = collectFacts(snapshotProc(snap), 441, new Map());
    const files = reopenedFilesOf(snapshotProc(snap), facts.tasks, new Set());
    const bound = bindPlan(
      plan({ ...facts, reopenedFiles: files }),
      loadConfig({ env: {}, file: undefined, overrides: [] }).config,
    );
    expect(bound.reopenedFiles).toEqual(files);
    expect(planSummary(bound).reopenedFiles).toEqual(files);
    expect(plan(facts).reopenedFiles).toEqual([]);
  });
});

describe('a device number’s major', () => {
  it('is glibc’s gnu_dev_major, past 2^32 too: 0 for a device a mount numbers', () => {
    expect(majorOf(VDA1)).toBe(254);
    expect(majorOf(40)).toBe(0);
    // major 4096, minor 5: makedev puts the major's high bits above 32.
    expect(majorOf(4096 * 2 ** 32 + 5)).toBe(4096);
    expect(majorOf((259 << 8) | 3)).toBe(259);
  });
});
