/**
 * Builds ProcSnapshots for unit tests, modelled on what the guest's /proc showed
 * for a real sshd session (docs/criu-facts.md §7 and §9): listener 380 under pid 1, the
 * session `sshd: root@pts/0` 441, its bash 447 and a sleep 534, in logind's
 * session 5 (its scope and its record in /run/systemd/sessions).
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
  /** The real uid (root's when not given). */
  uid?: number;
  /** The cgroup on the unified hierarchy, written only when given. */
  cgroup?: string;
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

/** The accounts the fixtures' processes run as. */
export const PASSWD = [
  'root:x:0:0:root:/root:/bin/bash',
  'sshd:x:101:65534::/run/sshd:/usr/sbin/nologin',
  'alice:x:1000:1000::/home/alice:/bin/bash',
  'bob:x:1001:1001::/home/bob:/bin/bash',
  'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin',
  '',
].join('\n');

export function snapshot(
  tasks: FakeTask[],
  extra: Partial<Pick<ProcSnapshot, 'texts'>> = {},
): ProcSnapshot {
  const snap: ProcSnapshot = {
    texts: { '/etc/passwd': PASSWD, ...extra.texts },
    links: {},
    dirs: { '/proc': tasks.map((t) => String(t.pid)) },
    stats: {},
  };
  for (const t of tasks) {
    const base = `/proc/${t.pid}`;
    const uid = t.uid ?? 0;
    snap.texts[`${base}/status`] =
      `Name:\t${t.name}\nState:\tS (sleeping)\nPPid:\t${t.ppid}\nUid:\t${uid}\t${uid}\t${uid}\t${uid}\nNSpid:\t${(t.nsPids ?? [t.pid]).join('\t')}\n${t.sid === undefined ? '' : `NSsid:\t${t.sid}\n`}`;
    if (t.cgroup) snap.texts[`${base}/cgroup`] = `0::${t.cgroup}\n`;
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

/** The scope of logind's session `id` of the user with `uid`. */
export function loginScopeOf(id: string, uid = 0): string {
  return `/user.slice/user-${uid}.slice/session-${id}.scope`;
}

/** Root's login session 5, the one sshSession() runs in. */
export const ROOT_SCOPE = loginScopeOf('5');

/**
 * logind's session `id`: its record (as /run/systemd/sessions/ID holds it), and
 * its scope with `members` in it, as pam_systemd leaves an ssh login.
 */
export function addLoginSession(
  snap: ProcSnapshot,
  session: {
    id: string;
    leader: number;
    uid: number;
    user: string;
    members: readonly number[];
    service?: string;
  },
): void {
  const scope = loginScopeOf(session.id, session.uid);
  snap.texts[`/run/systemd/sessions/${session.id}`] = [
    '# This is private data. Do not parse.',
    `UID=${session.uid}`,
    `USER=${session.user}`,
    'ACTIVE=1',
    'STATE=active',
    'REMOTE=1',
    'TYPE=tty',
    'CLASS=user',
    `SCOPE=session-${session.id}.scope`,
    `FIFO=/run/systemd/sessions/${session.id}.ref`,
    `SERVICE=${session.service ?? 'sshd'}`,
    `LEADER=${session.leader}`,
    '',
  ].join('\n');
  for (const pid of session.members) snap.texts[`/proc/${pid}/cgroup`] = `0::${scope}\n`;
  snap.texts[`/sys/fs/cgroup${scope}/cgroup.procs`] = `${session.members.join('\n')}\n`;
}

const LISTENER: FakeTask = {
  pid: 380,
  ppid: 1,
  name: 'sshd',
  cmdline: 'sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups',
  exe: '/usr/sbin/sshd',
  cgroup: '/system.slice/ssh.service',
};

/** The plain session, as the guest showed it: TCP on fd 4, logind FIFO on fd 8 from mount 149. */
export function sshSession(
  overrides: { session?: Partial<FakeTask>; extraTasks?: FakeTask[] } = {},
): ProcSnapshot {
  const tasks: FakeTask[] = [
    { pid: 1, ppid: 0, name: 'systemd', cmdline: '/sbin/init', exe: '/usr/lib/systemd/systemd' },
    LISTENER,
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
  const snap = snapshot(tasks, {
    texts: { '/proc/441/net/tcp': TCP_TABLE, '/proc/441/net/unix': UNIX_TABLE, '/proc/locks': '' },
  });
  addLoginSession(snap, { id: '5', leader: 441, uid: 0, user: 'root', members: [441, 447, 534] });
  return snap;
}

const RESTORED_PID_NS = 'pid:[4026532400]';
const RESTORED_MNT_NS = 'mnt:[4026532399]';

/** The scope a kernel-leap restore puts a tree in. */
export const RESTORED_SCOPE = '/system.slice/kernel-leap-session-20261201T110308Z-aaf6.scope';

/**
 * The same session after a kernel-leap restore: unshare 900 (reparented to init)
 * holds criu 901, pid 1 of a new pid and mount namespace, whose child is the
 * session with its dumped pids (441 is 902 from outside), all in the restore's
 * kernel-leap-session scope. logind has no session for it since the kexec.
 */
export function restoredSshSession(): ProcSnapshot {
  const inside = { pid: RESTORED_PID_NS, mnt: RESTORED_MNT_NS };
  const restored = { ns: inside, cgroup: RESTORED_SCOPE };
  const tasks: FakeTask[] = [
    { pid: 1, ppid: 0, name: 'systemd', cmdline: '/sbin/init', exe: '/usr/lib/systemd/systemd' },
    LISTENER,
    {
      pid: 900,
      ppid: 1,
      name: 'unshare',
      cmdline: 'unshare -pfm --mount-proc criu restore',
      exe: '/usr/bin/unshare',
      cgroup: RESTORED_SCOPE,
    },
    {
      pid: 901,
      ppid: 900,
      name: 'criu',
      cmdline: 'criu restore',
      exe: '/usr/sbin/criu',
      nsPids: [901, 1],
      ...restored,
    },
    {
      pid: 902,
      ppid: 901,
      name: 'sshd',
      cmdline: 'sshd: root@pts/0',
      exe: '/usr/sbin/sshd',
      exeStat: { mode: 0o100755, size: 1265432 },
      nsPids: [902, 441],
      ...restored,
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
      ...restored,
      fds: { 0: { target: '/dev/pts/0', stat: { mode: 0o020620 } } },
    },
  ];
  return snapshot(tasks, {
    texts: { '/proc/902/net/tcp': TCP_TABLE, '/proc/902/net/unix': UNIX_TABLE, '/proc/locks': '' },
  });
}

const SSHD = '/usr/sbin/sshd';
const SSHD_SESSION = '/usr/lib/openssh/sshd-session';
const ptmx = (index: number) => ({ 9: { target: '/dev/ptmx', ttyIndex: index } });

/**
 * Every kind of ssh connection on one machine: root's login (441, as sshSession),
 * alice's under privilege separation (`sshd: alice [priv]` 600, root's, leads
 * logind's session 6 above her `sshd: alice@pts/1` 601, which runs as her),
 * bob's on OpenSSH 10 (`sshd-session: bob [priv]` 700 above 701, session 7), and
 * a connection still authenticating (800 above `[net]` 801, as the sshd user),
 * which logind does not know yet.
 */
export function manySshSessions(): ProcSnapshot {
  const snap = sshSession({
    extraTasks: [
      { pid: 600, ppid: 380, name: 'sshd', cmdline: 'sshd: alice [priv]', exe: SSHD },
      {
        pid: 601,
        ppid: 600,
        name: 'sshd',
        cmdline: 'sshd: alice@pts/1',
        exe: SSHD,
        uid: 1000,
        fds: ptmx(1),
      },
      {
        pid: 602,
        ppid: 601,
        name: 'bash',
        cmdline: '-bash',
        exe: '/usr/bin/bash',
        uid: 1000,
        fds: { 0: { target: '/dev/pts/1' } },
      },
      {
        pid: 700,
        ppid: 380,
        name: 'sshd-session',
        cmdline: 'sshd-session: bob [priv]',
        exe: SSHD_SESSION,
        fds: ptmx(2),
      },
      {
        pid: 701,
        ppid: 700,
        name: 'sshd-session',
        cmdline: 'sshd-session: bob@pts/2',
        exe: SSHD_SESSION,
        uid: 1001,
        fds: ptmx(2),
      },
      {
        pid: 702,
        ppid: 701,
        name: 'bash',
        cmdline: '-bash',
        exe: '/usr/bin/bash',
        uid: 1001,
        fds: { 0: { target: '/dev/pts/2' } },
      },
      { pid: 800, ppid: 380, name: 'sshd', cmdline: 'sshd: carol [priv]', exe: SSHD },
      { pid: 801, ppid: 800, name: 'sshd', cmdline: 'sshd: carol [net]', exe: SSHD, uid: 101 },
    ],
  });
  addLoginSession(snap, {
    id: '6',
    leader: 600,
    uid: 1000,
    user: 'alice',
    members: [600, 601, 602],
  });
  addLoginSession(snap, { id: '7', leader: 700, uid: 1001, user: 'bob', members: [700, 701, 702] });
  for (const pid of [800, 801])
    snap.texts[`/proc/${pid}/cgroup`] = '0::/system.slice/ssh.service\n';
  return snap;
}
