/**
 * The one reader of /proc/PID/mountinfo (the plan's held files, the files criu
 * opens again, and the tree's mounts all read it): each mount's id, where it is
 * mounted and its filesystem, whatever a user named the mount point.
 */
import { describe, expect, it } from 'vitest';

import { dumpBoundMs } from '../../../src/steps/checkpoint/dump.js';
import { parseMountinfo, readMounts, residentBytes } from '../../../src/tools/proc-tasks.js';
import { snapshotProc } from '../../../src/tools/procfs.js';

const MOUNTINFO = [
  '22 27 0:20 / /sys rw,nosuid - sysfs sysfs rw',
  '24 27 0:5 / /dev rw,nosuid master:2 - devtmpfs udev rw,size=1000k',
  '27 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw',
  '40 27 0:50 / /run/user/1000 rw,nosuid,nodev,relatime shared:10 - tmpfs tmpfs rw,size=200k,mode=700,uid=1000',
  '41 24 0:25 / /dev/shm rw,nosuid,nodev shared:4 master:1 - tmpfs tmpfs rw',
  '42 27 0:51 / /mnt/ram\\040disk rw - ramfs none rw',
  '',
].join('\n');

describe('a mount in mountinfo', () => {
  it('is its id, its mount point and its filesystem, past any number of optional fields', () => {
    expect(parseMountinfo(MOUNTINFO)).toEqual([
      { id: 22, mountPoint: '/sys', fsType: 'sysfs' },
      { id: 24, mountPoint: '/dev', fsType: 'devtmpfs' },
      { id: 27, mountPoint: '/', fsType: 'ext4' },
      { id: 40, mountPoint: '/run/user/1000', fsType: 'tmpfs' },
      { id: 41, mountPoint: '/dev/shm', fsType: 'tmpfs' },
      { id: 42, mountPoint: '/mnt/ram disk', fsType: 'ramfs' },
    ]);
  });

  it("undoes the kernel's octal escapes of a mount point: space, tab, newline, backslash", () => {
    const [mount] = parseMountinfo(
      '50 27 0:60 / /home/a\\040b\\011c\\012d\\134e rw - tmpfs t rw\n',
    );
    expect(mount?.mountPoint).toBe('/home/a b\tc\nd\\e');
  });

  it('skips a line that is not a whole mount: no separator, too few fields, no id', () => {
    expect(
      parseMountinfo(
        [
          '60 27 0:1 / /x rw tmpfs t rw',
          '61 27 - tmpfs t rw',
          'x 27 0:1 / /y rw - tmpfs t rw',
        ].join('\n'),
      ),
    ).toEqual([]);
  });
});

describe("a process's mounts", () => {
  it('are read from its mountinfo through the ProcSource, and none once it is gone', () => {
    const proc = snapshotProc({
      texts: { '/proc/7/mountinfo': MOUNTINFO },
      links: {},
      dirs: {},
      stats: {},
    });
    expect(readMounts(proc, 7).map((m) => m.id)).toEqual([22, 24, 27, 40, 41, 42]);
    expect(readMounts(proc, 8)).toEqual([]);
  });
});

describe("a tree's memory, as the dump's bound reads it", () => {
  const status = (anon: number, shmem: number) =>
    `Name:\tbash\nVmRSS:\t${anon + shmem + 900} kB\nRssAnon:\t${anon} kB\nRssFile:\t900 kB\nRssShmem:\t${shmem} kB\n`;

  it('adds up the anonymous and shared resident memory the kernel counts, not file pages criu does not write', () => {
    const proc = snapshotProc({
      texts: { '/proc/7/status': status(524_288, 0), '/proc/8/status': status(1000, 24) },
      links: {},
      dirs: {},
      stats: {},
    });
    expect(residentBytes(proc, [7, 8])).toBe((524_288 + 1000 + 24) * 1024);
  });

  it('counts nothing for a task that is gone, or a status without the fields (a kernel thread)', () => {
    const proc = snapshotProc({
      texts: { '/proc/9/status': 'Name:\tkthreadd\n' },
      links: {},
      dirs: {},
      stats: {},
    });
    expect(residentBytes(proc, [9, 10])).toBe(0);
  });
});

describe('the bound of a dump', () => {
  it('is a minute for an idle shell, and grows by a quarter second a MiB: about five minutes for 1 GiB', () => {
    expect(dumpBoundMs(0)).toBe(60_000);
    expect(dumpBoundMs(4 * 1024 * 1024)).toBe(61_000);
    expect(dumpBoundMs(1024 ** 3)).toBe(316_000);
  });
});
