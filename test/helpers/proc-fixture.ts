/**
 * Builds ProcSnapshots for unit tests, modelled on what the guest's /proc showed
 * for a real sshd session (docs/criu-facts.md §7 and §9): listener 380 under pid 1, the
 * session `sshd: root@pts/0` 441, its bash 447 and a sleep 534.
 */
import type { ProcSnapshot, StatFacts } from '../../src/tools/procfs.js';

export interface FakeTask {
  pid: number;
  ppid: number;
  name: string;
  cmdline: string;
  fds?: Record<
    number,
    { target: string; mntId?: number; ttyIndex?: number; stat?: Partial<StatFacts>; flags?: number }
  >;
  exe?: string;
  exeStat?: Partial<StatFacts>;
  ns?: Partial<Record<'mnt' | 'pid' | 'net' | 'ipc' | 'uts' | 'user', string>>;
  /** NSpid, outermost first; absent: the task lives in the initial pid namespace. */
  nsPids?: number[];
  /** NSsid, written only when given (a job whose session leader is another process). */
  sid?: number;
  maps?: string;
}

const NS = {
  mnt: 'mnt:[4026531841]',
  pid: 'pid:[4026531836]',
  net: 'net:[4026531840]',
  ipc: 'ipc:[4026531839]',
  uts: 'uts:[4026531838]',
  user: 'user:[4026531837]',
};
const stat = (s: Partial<StatFacts> = {}): StatFacts => ({
  ino: 1,
  mode: 0o100644,
  nlink: 1,
  size: 0,
  uid: 0,
  gid: 0,
  ...s,
});

export function snapshot(
  tasks: FakeTask[],
  extra: Partial<Pick<ProcSnapshot, 'texts'>> = {},
): ProcSnapshot {
  const snap: ProcSnapshot = {
    texts: { ...extra.texts },
    links: {},
    dirs: { '/proc': tasks.map((t) => String(t.pid)) },
    stats: {},
  };
  for (const t of tasks) {
    const base = `/proc/${t.pid}`;
    snap.texts[`${base}/status`] =
      `Name:\t${t.name}\nState:\tS (sleeping)\nPPid:\t${t.ppid}\nNSpid:\t${(t.nsPids ?? [t.pid]).join('\t')}\n${t.sid === undefined ? '' : `NSsid:\t${t.sid}\n`}`;
    snap.texts[`${base}/cmdline`] = `${t.cmdline.split(' ').join('\0')}\0`;
    snap.dirs[`${base}/task`] = [String(t.pid)];
    snap.texts[`${base}/task/${t.pid}/children`] = tasks
      .filter((c) => c.ppid === t.pid)
      .map((c) => c.pid)
      .join(' ');
    snap.dirs[`${base}/fd`] = Object.keys(t.fds ?? {});
    for (const [fd, f] of Object.entries(t.fds ?? {})) {
      snap.links[`${base}/fd/${fd}`] = f.target;
      snap.texts[`${base}/fdinfo/${fd}`] =
        `pos:\t0\nflags:\t${(f.flags ?? 0o2).toString(8).padStart(2, '0')}\nmnt_id:\t${f.mntId ?? 24}\n${f.ttyIndex !== undefined ? `tty-index:\t${f.ttyIndex}\n` : ''}`;
      snap.stats[`${base}/fd/${fd}`] = stat(f.stat);
    }
    if (t.exe) snap.links[`${base}/exe`] = t.exe;
    if (t.exeStat) snap.stats[`${base}/exe`] = stat(t.exeStat);
    snap.texts[`${base}/maps`] = t.maps ?? '';
    for (const [kind, value] of Object.entries({ ...NS, ...t.ns }))
      snap.links[`${base}/ns/${kind}`] = value;
    snap.texts[`${base}/mountinfo`] =
      '22 27 0:20 / /sys rw - sysfs sysfs rw\n24 27 0:5 / /dev rw - devtmpfs udev rw\n27 1 254:0 / / rw - ext4 /dev/vda rw\n';
  }
  return snap;
}

export const TCP_TABLE = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0F02000A:0016 0202000A:C3CC 01 00000000:00000000 02:00000E2F 00000000     0        0 12784 2 0000000000000000 20 4 31 10 -1
   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 11000 1 0000000000000000 100 0 0 10 0
`;

export const UNIX_TABLE = `Num       RefCount Protocol Flags    Type St Inode Path
0000000000000000: 00000002 00000000 00000000 0002 01  2697 /run/systemd/journal/dev-log
0000000000000000: 00000003 00000000 00000000 0001 03 14350
0000000000000000: 00000002 00000000 00000000 0002 03 14369
0000000000000000: 00000003 00000000 00000000 0001 03 20001
0000000000000000: 00000003 00000000 00000000 0001 03 20002 /run/dbus/system_bus_socket
`;

/** The plain session, as the guest showed it: TCP on fd 4, logind FIFO on fd 8 from mount 149. */
export function sshSession(
  overrides: { session?: Partial<FakeTask>; extraTasks?: FakeTask[] } = {},
): ProcSnapshot {
  const tasks: FakeTask[] = [
    { pid: 1, ppid: 0, name: 'systemd', cmdline: '/sbin/init' },
    {
      pid: 380,
      ppid: 1,
      name: 'sshd',
      cmdline: 'sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups',
    },
    {
      pid: 441,
      ppid: 380,
      name: 'sshd',
      cmdline: 'sshd: root@pts/0',
      exe: '/usr/sbin/sshd',
      exeStat: { mode: 0o100755, size: 1265432 },
      fds: {
        3: { target: 'socket:[14369]' },
        4: { target: 'socket:[12784]' },
        6: { target: 'socket:[14350]' },
        8: {
          target: '/run/systemd/sessions/5.ref',
          mntId: 149,
          stat: { ino: 652, mode: 0o010600 },
        },
        9: { target: '/dev/ptmx', ttyIndex: 0, stat: { mode: 0o020666 } },
      },
      ...overrides.session,
    },
    {
      pid: 447,
      ppid: 441,
      name: 'bash',
      cmdline: 'bash -c while :; do sleep 1; done',
      exe: '/usr/bin/bash',
      fds: { 0: { target: '/dev/pts/0', stat: { mode: 0o020620 } } },
    },
    { pid: 534, ppid: 447, name: 'sleep', cmdline: 'sleep 1', exe: '/usr/bin/sleep' },
    ...(overrides.extraTasks ?? []),
  ];
  return snapshot(tasks, {
    texts: { '/proc/441/net/tcp': TCP_TABLE, '/proc/441/net/unix': UNIX_TABLE, '/proc/locks': '' },
  });
}

const RESTORED_PID_NS = 'pid:[4026532400]';
const RESTORED_MNT_NS = 'mnt:[4026532399]';

/**
 * The same session after a kernel-leap restore: unshare 900 (reparented to init)
 * holds criu 901, pid 1 of a new pid and mount namespace, whose child is the
 * session with its dumped pids (441 is 902 from outside).
 */
export function restoredSshSession(): ProcSnapshot {
  const inside = { pid: RESTORED_PID_NS, mnt: RESTORED_MNT_NS };
  const tasks: FakeTask[] = [
    { pid: 1, ppid: 0, name: 'systemd', cmdline: '/sbin/init' },
    {
      pid: 380,
      ppid: 1,
      name: 'sshd',
      cmdline: 'sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups',
    },
    { pid: 900, ppid: 1, name: 'unshare', cmdline: 'unshare -pfm --mount-proc criu restore' },
    { pid: 901, ppid: 900, name: 'criu', cmdline: 'criu restore', nsPids: [901, 1], ns: inside },
    {
      pid: 902,
      ppid: 901,
      name: 'sshd',
      cmdline: 'sshd: root@pts/0',
      exe: '/usr/sbin/sshd',
      exeStat: { mode: 0o100755, size: 1265432 },
      nsPids: [902, 441],
      ns: inside,
      fds: {
        4: { target: 'socket:[12784]' },
        9: { target: '/dev/ptmx', ttyIndex: 0, stat: { mode: 0o020666 } },
      },
    },
    {
      pid: 903,
      ppid: 902,
      name: 'bash',
      cmdline: 'bash',
      exe: '/usr/bin/bash',
      nsPids: [903, 447],
      ns: inside,
      fds: { 0: { target: '/dev/pts/0', stat: { mode: 0o020620 } } },
    },
  ];
  return snapshot(tasks, {
    texts: { '/proc/902/net/tcp': TCP_TABLE, '/proc/902/net/unix': UNIX_TABLE, '/proc/locks': '' },
  });
}

/**
 * Every kind of ssh connection on one machine: root's login (441, as sshSession),
 * alice's under privilege separation (`sshd: alice [priv]` 600, root's, above her
 * `sshd: alice@pts/1` 601), bob's on OpenSSH 10 naming (`sshd-session: bob [priv]`
 * 700 above 701), and a connection still authenticating (800 above `[net]` 801).
 */
export function manySshSessions(): ProcSnapshot {
  return sshSession({
    extraTasks: [
      { pid: 600, ppid: 380, name: 'sshd', cmdline: 'sshd: alice [priv]' },
      { pid: 601, ppid: 600, name: 'sshd', cmdline: 'sshd: alice@pts/1' },
      { pid: 602, ppid: 601, name: 'bash', cmdline: '-bash', fds: { 0: { target: '/dev/pts/1' } } },
      { pid: 700, ppid: 380, name: 'sshd-session', cmdline: 'sshd-session: bob [priv]' },
      { pid: 701, ppid: 700, name: 'sshd-session', cmdline: 'sshd-session: bob@pts/2' },
      { pid: 702, ppid: 701, name: 'bash', cmdline: '-bash', fds: { 0: { target: '/dev/pts/2' } } },
      { pid: 800, ppid: 380, name: 'sshd', cmdline: 'sshd: carol [priv]' },
      { pid: 801, ppid: 800, name: 'sshd', cmdline: 'sshd: carol [net]' },
    ],
  });
}
