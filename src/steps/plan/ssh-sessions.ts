/**
 * What an ssh session is: what the kernel and logind say, never a process title.
 * Any user can title a process `sshd: root@pts/9` (`exec -a`), so no word of a
 * title decides that a process is a session, nor whose (docs/trust.md).
 *
 * A logged-in ssh session is a logind session whose Service is sshd, led by the
 * per-connection sshd process that opened it through PAM (pam_systemd): `sshd:
 * alice [priv]`, or `sshd: root@pts/0` for a root login on OpenSSH 9, or
 * `sshd-session: … [priv]` on OpenSSH 10. That leader
 * - runs the sshd binary (the kernel's /proc/PID/exe): /usr/sbin/sshd, OpenSSH
 *   10's /usr/lib/openssh/sshd-session, or either's deleted copy once a package
 *   upgrade replaced it;
 * - is in that session's scope (its cgroup, which no user can move a process into);
 * - is a child of the sshd listener, or of pid 1 once a restarted listener left it;
 * - and its user process (the sshd child that dropped to the user under privilege
 *   separation, or the leader itself for a root login) runs as the session's
 *   user: the real uid, from /proc/PID/status.
 *
 * A session an earlier leap restored is no logind session any more: it is the
 * sshd that criu, pid 1 of its namespace, restored into a
 * kernel-leap-session-<run>.scope of system.slice, which only root creates. Its
 * user is its user process's real uid.
 */
import { accountName } from '../../tools/accounts.js';
import { loginRecord } from '../../tools/logind.js';
import {
  cgroupOf,
  childrenOf,
  listFds,
  listPids,
  readCmdline,
  readExe,
  readStatus,
} from '../../tools/proc-tasks.js';
import type { ProcSource } from '../../tools/procfs.js';

/** Where Debian installs the binaries an ssh connection's processes run: OpenSSH 9's sshd, OpenSSH 10's sshd-session. */
export const SSHD_BINARIES: readonly string[] = ['/usr/sbin/sshd', '/usr/lib/openssh/sshd-session'];

/** The scope kernel-leap's restore puts a tree in (tools/systemd.ts scopeArgv); a user's delegated cgroups are elsewhere. */
const RESTORED_SCOPE = /^\/system\.slice\/kernel-leap-session-[^/]+\.scope$/;
const LOGIN_SCOPE = /\/session-([A-Za-z0-9]+)\.scope$/;

export interface SshSession {
  /** The leader: the topmost per-connection sshd process, the tree a leap carries. */
  root: number;
  uid: number;
  /** The user's name: logind's, or /etc/passwd's for a restored session. */
  user: string;
  /** `pts/N` of the pty its sshd holds (the kernel's tty-index), or `notty`. */
  tty: string;
  /** Its logind scope's cgroup; undefined for a session a leap restored. */
  scope: string | undefined;
}

type Judgement = { session: SshSession } | { why: string };

/** The ssh session `pid` leads, or undefined when it leads none. */
export function sessionAt(proc: ProcSource, pid: number): SshSession | undefined {
  const judged = judge(proc, pid);
  return 'session' in judged ? judged.session : undefined;
}

/** Why `pid` leads no ssh session, in a few words for a list or an error; undefined when it leads one. */
export function whyNotSession(proc: ProcSource, pid: number): string | undefined {
  const judged = judge(proc, pid);
  return 'why' in judged ? judged.why : undefined;
}

/** Every ssh session on the machine (as this /proc sees it), by its leader, lowest pid first. */
export function sshSessions(proc: ProcSource): SshSession[] {
  return listPids(proc)
    .filter((pid) => runsSshd(proc, pid))
    .flatMap((pid) => sessionAt(proc, pid) ?? []);
}

/** The ssh session of the logind scope `pid` is in (a tmux window's: its server left the ssh tree, not the login). */
export function sessionOfScope(proc: ProcSource, pid: number): SshSession | undefined {
  const id = LOGIN_SCOPE.exec(cgroupOf(proc, pid) ?? '')?.[1];
  const record = id === undefined ? undefined : loginRecord(proc, id);
  return record ? sessionAt(proc, record.leader) : undefined;
}

/** The child of the criu that restored it, in a kernel-leap session scope. */
export function isRestoredRoot(proc: ProcSource, pid: number): boolean {
  return (
    RESTORED_SCOPE.test(cgroupOf(proc, pid) ?? '') &&
    isCriuInit(proc, readStatus(proc, pid)?.ppid ?? 0)
  );
}

/** The sshd listener: the sshd binary, started by pid 1. */
export function isListener(proc: ProcSource, pid: number): boolean {
  return runsSshd(proc, pid) && readStatus(proc, pid)?.ppid === 1;
}

/** The kernel says the process runs an installed sshd binary, or its copy that an upgrade deleted. */
export function runsSshd(proc: ProcSource, pid: number): boolean {
  const exe = readExe(proc, pid)?.replace(/ \(deleted\)$/, '');
  return exe !== undefined && SSHD_BINARIES.includes(exe);
}

function judge(proc: ProcSource, pid: number): Judgement {
  if (!runsSshd(proc, pid))
    return { why: `it runs ${readExe(proc, pid) ?? 'an unknown binary'}, not sshd` };
  const cgroup = cgroupOf(proc, pid) ?? '';
  return RESTORED_SCOPE.test(cgroup) ? restoredSession(proc, pid) : loginSession(proc, pid, cgroup);
}

function loginSession(proc: ProcSource, pid: number, cgroup: string): Judgement {
  const id = LOGIN_SCOPE.exec(cgroup)?.[1];
  if (id === undefined) return { why: 'it is in no login session of logind' };
  const record = loginRecord(proc, id);
  if (!record) return { why: `logind keeps no record of session ${id}` };
  if (record.service !== 'sshd')
    return { why: `logind's session ${id} is of ${record.service || 'no service'}, not sshd` };
  if (record.leader !== pid)
    return { why: `logind's session ${id} is led by process ${record.leader}` };
  const parent = readStatus(proc, pid)?.ppid ?? 0;
  if (parent !== 1 && !isListener(proc, parent))
    return { why: `its parent ${parent} is not the sshd listener` };
  const user = userProcess(proc, pid);
  const uid = readStatus(proc, user)?.uid;
  if (uid !== record.uid)
    return {
      why: `its user process ${user} runs as uid ${uid ?? '?'}, logind's session ${id} is uid ${record.uid}'s`,
    };
  return {
    session: { root: pid, uid, user: record.user, tty: ttyOf(proc, [user, pid]), scope: cgroup },
  };
}

function restoredSession(proc: ProcSource, pid: number): Judgement {
  const parent = readStatus(proc, pid)?.ppid ?? 0;
  if (!isCriuInit(proc, parent))
    return { why: `its parent ${parent} is not the criu that restored it` };
  const user = userProcess(proc, pid);
  const uid = readStatus(proc, user)?.uid;
  if (uid === undefined) return { why: `the user of its process ${user} is unknown` };
  return {
    session: {
      root: pid,
      uid,
      user: accountName(proc, uid),
      tty: ttyOf(proc, [user, pid]),
      scope: undefined,
    },
  };
}

/** criu, pid 1 of the namespace it restored a tree into (seen from outside it or from inside). */
function isCriuInit(proc: ProcSource, pid: number): boolean {
  const exe = readExe(proc, pid)?.replace(/ \(deleted\)$/, '');
  return exe?.split('/').at(-1) === 'criu' && readStatus(proc, pid)?.nsPids.at(-1) === 1;
}

/**
 * The session's process that runs as its user: the leader's sshd child that
 * dropped to the user (privilege separation, and every OpenSSH 10 login), or
 * the leader itself (a root login on OpenSSH 9). The kernel picks the
 * candidates; a title (`user@pts/N`) only chooses among them.
 */
function userProcess(proc: ProcSource, leader: number): number {
  const children = childrenOf(proc, leader).filter((c) => runsSshd(proc, c));
  return children.find((c) => readCmdline(proc, c).includes('@')) ?? children[0] ?? leader;
}

/** The pty a session's sshd holds the master of, by the kernel's index (a title's may be stale or false). */
function ttyOf(proc: ProcSource, pids: readonly number[]): string {
  for (const pid of pids) {
    const index = listFds(proc, pid).find(
      (f) => f.target.endsWith('ptmx') && f.ttyIndex !== undefined,
    )?.ttyIndex;
    if (index !== undefined) return `pts/${index}`;
  }
  return 'notty';
}
