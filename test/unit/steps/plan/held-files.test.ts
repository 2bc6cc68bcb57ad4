/**
 * Which files a tree holds that the next boot clears: on a tmpfs or ramfs (by the
 * fd's mount in the process's mountinfo), or under a directory systemd-tmpfiles
 * empties; what the plan records of each (device, inode, owner, mode, and each
 * directory down from what the boot clears), what it does not carry, and the
 * plan's lines about them.
 */
import { describe, expect, it } from 'vitest';

import { loadConfig } from '../../../../src/config/load.js';
import { plan } from '../../../../src/steps/plan/classify.js';
import { collectFacts } from '../../../../src/steps/plan/facts.js';
import {
  clearedRoot,
  dirsBetween,
  heldFileRisks,
  heldFilesOf,
} from '../../../../src/steps/plan/held-files.js';
import { bindPlan, planSummary } from '../../../../src/steps/plan/session-plan.js';
import { type ProcSnapshot, snapshotProc } from '../../../../src/tools/procfs.js';
import { sshSession } from '../../../helpers/proc-fixture.js';

const MOUNTINFO = [
  '22 27 0:20 / /sys rw,nosuid - sysfs sysfs rw',
  '24 27 0:5 / /dev rw,nosuid master:2 - devtmpfs udev rw,size=1000k',
  '27 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw',
  '40 27 0:50 / /run/user/1000 rw,nosuid,nodev,relatime shared:10 - tmpfs tmpfs rw,size=200k,mode=700,uid=1000',
  '41 24 0:25 / /dev/shm rw,nosuid,nodev shared:4 - tmpfs tmpfs rw',
  '42 27 0:51 / /mnt/ram\\040disk rw - ramfs none rw',
  '',
].join('\n');

const CLEARED = { dirs: ['/tmp', '/tmp/.X11-unix'] };
const file = (ino: number, extra: Record<string, number> = {}) => ({
  dev: 2049,
  ino,
  nlink: 1,
  mode: 0o100644,
  size: 100,
  uid: 1000,
  gid: 1000,
  ...extra,
});

/** Root's session with alice's compiler 560 under its shell, and a process 570 in a mount namespace of its own. */
function compiling(): ProcSnapshot {
  const snap = sshSession({
    extraTasks: [
      {
        pid: 560,
        ppid: 447,
        name: 'cc1',
        cmdline: 'cc1 -o /tmp/build/obj/a.o',
        exe: '/usr/lib/gcc/cc1',
        uid: 1000,
        fds: {
          3: { target: '/tmp/build/obj/a.o', mntId: 27, stat: file(77, { mode: 0o100640 }) },
          4: { target: '/run/user/1000/held', mntId: 40, stat: file(78, { dev: 50 }) },
          5: { target: '/dev/shm/sem.x', mntId: 41, stat: file(79, { dev: 25, size: 32 }) },
          6: { target: '/var/tmp/kept', mntId: 27, stat: file(80) },
          7: { target: '/tmp/gone (deleted)', mntId: 27, stat: file(81) },
          8: { target: '/tmp/fifo', mntId: 27, stat: file(82, { mode: 0o010600 }) },
          9: { target: '/tmp/build/obj/a.o', mntId: 27, stat: file(77, { mode: 0o100640 }) },
          10: { target: '/tmp/line\nbreak', mntId: 27, stat: file(83) },
          11: { target: '/mnt/ram disk/x', mntId: 42, stat: file(84, { dev: 51 }) },
        },
      },
      {
        pid: 570,
        ppid: 447,
        name: 'sandboxed',
        cmdline: 'sandboxed',
        exe: '/usr/bin/sandboxed',
        ns: { mnt: 'mnt:[4026532500]' },
        fds: { 3: { target: '/tmp/other', mntId: 27, stat: file(85, { uid: 0, gid: 0 }) } },
      },
    ],
  });
  for (const pid of [441, 447, 534, 560, 570]) snap.texts[`/proc/${pid}/mountinfo`] = MOUNTINFO;
  snap.stats['/tmp/build'] = file(90, { mode: 0o040755 });
  snap.stats['/tmp/build/obj'] = file(91, { mode: 0o040700, gid: 100 });
  return snap;
}

const facts = () => collectFacts(snapshotProc(compiling()), 441, new Map());

describe('what the boot clears that holds a path', () => {
  const mount = (fsType: string, mountPoint: string) => ({ id: 1, mountPoint, fsType });

  it('is the mount point of a tmpfs or ramfs: a fresh one at every boot', () => {
    expect(clearedRoot('/tmp/x', mount('tmpfs', '/tmp'), [])).toBe('/tmp');
    expect(clearedRoot('/srv/r/x', mount('ramfs', '/srv/r'), [])).toBe('/srv/r');
    // The mount point, not a tmpfiles directory above it, which the boot mounts on.
    expect(clearedRoot('/run/user/0/x', mount('tmpfs', '/run/user/0'), ['/run'])).toBe(
      '/run/user/0',
    );
  });

  it('else the outermost directory tmpfiles empties or removes, and nothing for a path it keeps', () => {
    const disk = mount('ext4', '/');
    expect(clearedRoot('/tmp/.X11-unix/X0', disk, ['/tmp/.X11-unix', '/tmp'])).toBe('/tmp');
    expect(clearedRoot('/var/tmp/x', disk, ['/tmp'])).toBeUndefined();
    expect(clearedRoot('/tmpfoo/x', disk, ['/tmp'])).toBeUndefined();
    expect(clearedRoot('/tmp', disk, ['/tmp'])).toBeUndefined();
    expect(clearedRoot('/tmp/x', undefined, [])).toBeUndefined();
  });

  it('has the directories between it and the file, outermost first', () => {
    expect(dirsBetween('/tmp', '/tmp/a/b/f')).toEqual(['/tmp/a', '/tmp/a/b']);
    expect(dirsBetween('/tmp', '/tmp/f')).toEqual([]);
    expect(dirsBetween('/', '/a/f')).toEqual(['/a']);
  });
});

describe('the held files of a tree', () => {
  it('are its regular files and FIFOs the boot clears, once each, with what the copy and the restore check', () => {
    const found = heldFilesOf(snapshotProc(compiling()), facts().tasks, CLEARED);
    expect(found.files).toEqual([
      {
        path: '/tmp/build/obj/a.o',
        dev: 2049,
        ino: 77,
        size: 100,
        uid: 1000,
        gid: 1000,
        mode: 0o640,
        root: '/tmp',
        dirs: [
          { path: '/tmp/build', uid: 1000, gid: 1000, mode: 0o755 },
          { path: '/tmp/build/obj', uid: 1000, gid: 100, mode: 0o700 },
        ],
      },
      expect.objectContaining({ path: '/run/user/1000/held', dev: 50, root: '/run/user/1000' }),
      expect.objectContaining({ path: '/dev/shm/sem.x', root: '/dev/shm', dirs: [] }),
      // criu opens a FIFO again by its path too; it carries the bytes, so the FIFO is made again empty.
      expect.objectContaining({
        path: '/tmp/fifo',
        kind: 'fifo',
        size: 0,
        mode: 0o600,
        root: '/tmp',
      }),
      expect.objectContaining({ path: '/mnt/ram disk/x', root: '/mnt/ram disk' }),
    ]);
  });

  it('are not carried from another mount namespace, nor with a line break in the path', () => {
    const found = heldFilesOf(snapshotProc(compiling()), facts().tasks, CLEARED);
    expect(found.notCarried).toEqual([
      {
        pid: 560,
        name: 'cc1',
        fd: 10,
        path: '/tmp/line\nbreak',
        why: 'its path holds a line break',
      },
      {
        pid: 570,
        name: 'sandboxed',
        fd: 3,
        path: '/tmp/other',
        why: "in mount namespace mnt:[4026532500], not the host's",
      },
    ]);
  });

  it('are only those on tmpfs and ramfs when systemd-tmpfiles did not answer', () => {
    const found = heldFilesOf(snapshotProc(compiling()), facts().tasks, {
      dirs: [],
      why: 'systemd-tmpfiles is not installed',
    });
    expect(found.files.map((f) => f.path)).toEqual([
      '/run/user/1000/held',
      '/dev/shm/sem.x',
      '/mnt/ram disk/x',
    ]);
    expect(heldFileRisks(found, undefined).map((r) => [r.level, r.code])).toEqual([
      ['ok', 'HELD_FILES'],
      ['warn', 'TMPFILES_UNKNOWN'],
    ]);
  });
});

describe("the plan's lines about them", () => {
  const planWith = (room: number) => {
    const base = facts();
    return plan({
      ...base,
      heldFiles: heldFilesOf(snapshotProc(compiling()), base.tasks, CLEARED),
      copyRoom: { path: '/var/lib/kernel-leap', bytes: room },
    });
  };

  it('say how many, their size, and that they are copied after the dump and put back before the restore', () => {
    const p = planWith(10_000);
    expect(p.heldFiles).toHaveLength(5);
    expect(p.risks.find((r) => r.code === 'HELD_FILES')).toEqual({
      level: 'ok',
      code: 'HELD_FILES',
      message:
        '5 held files the boot clears (/tmp/build/obj/a.o, /run/user/1000/held, /dev/shm/sem.x and 2 more; 332 bytes): copied into the run after the dump, put back before the restore',
    });
    // Each path printable: a line break a user put in a name shows as \n.
    expect(p.risks.find((r) => r.code === 'HELD_FILE_NOT_CARRIED')?.message).toBe(
      "cc1 (560) fd 10 holds /tmp/line\\nbreak, which the boot clears, its path holds a line break: not copied, so its tree's restore fails unless the file is there again",
    );
    expect(p.verdict).toBe('go');
  });

  it('are a no-go when the copies would not fit where they go', () => {
    const p = planWith(331);
    expect(p.risks.find((r) => r.level === 'fail')).toMatchObject({
      code: 'HELD_FILES_TOO_LARGE',
      message:
        'the held files the boot clears take 332 bytes, more than the 331 bytes free at /var/lib/kernel-leap where their copies go',
    });
    expect(p.verdict).toBe('no-go');
  });

  it('and plan --json carries each file', () => {
    const config = loadConfig({ env: {}, file: undefined, overrides: [] }).config;
    const summary = planSummary(bindPlan(planWith(10_000), config));
    expect(summary.heldFiles.map((f) => [f.path, f.size])).toEqual([
      ['/tmp/build/obj/a.o', 100],
      ['/run/user/1000/held', 100],
      ['/dev/shm/sem.x', 32],
      ['/tmp/fifo', 0],
      ['/mnt/ram disk/x', 100],
    ]);
  });
});
