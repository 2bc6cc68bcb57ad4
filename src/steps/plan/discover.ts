/**
 * Discover: find the session root, the leader of an ssh session, by walking PPid
 * up from a process of the session. What is a session is the kernel's and
 * logind's word, never a title (ssh-sessions.ts): the leader is `sshd: user@pts/N`
 * for a root login, or the privilege-separation monitor `sshd: user [priv]` above
 * it for other users; OpenSSH 9.8 and later name both `sshd-session: …`. A process
 * that left the ssh tree but not its login (a shell in a tmux window) finds it
 * through its logind scope. Errors say what to pass.
 */
import { ExitCode, LeapError } from '../../errors.js';
import {
  cgroupOf,
  childrenOf,
  listFds,
  listPids,
  readCmdline,
  readStatus,
} from '../../tools/proc-tasks.js';
import type { ProcSource } from '../../tools/procfs.js';
import {
  isListener,
  runsSshd,
  sessionAt,
  sessionOfScope,
  sshSessions,
  whyNotSession,
} from './ssh-sessions.js';

export interface SessionRoot {
  pid: number;
  name: string;
  cmdline: string;
  /** Set for a tree of a carried session's logind scope outside its ssh tree (a tmux server): that session's root and scope. */
  scopeTree?: { session: number; scope: string };
}

/** Who is logged in through a session, and on which pty: logind's user and the kernel's pty, none of it from a title. */
export function sessionLogin(proc: ProcSource, root: number): { user: string; tty: string } {
  // A tree of a login scope (a tmux server) is logged in through that scope's ssh session.
  const session = sessionAt(proc, root) ?? sessionOfScope(proc, root);
  return { user: session?.user ?? '?', tty: session?.tty ?? '?' };
}

export interface DiscoverInput {
  pid?: number;
  tty?: string;
  allSsh?: boolean;
  selfPid: number;
}

export function discover(proc: ProcSource, input: DiscoverInput): SessionRoot[] {
  if (input.allSsh) return allSshSessions(proc);
  if (input.tty) return [sessionRootOnTty(proc, input.tty)];
  return [sessionRootOf(proc, input.pid ?? input.selfPid)];
}

export function sessionRootOf(proc: ProcSource, pid: number): SessionRoot {
  if (!readStatus(proc, pid))
    throw new LeapError('PID_NOT_FOUND', `process ${pid} does not exist`, {
      hint: 'pass the pid of a process in the session, e.g. --pid $$',
      exit: ExitCode.usage,
    });
  const chain: number[] = [];
  for (
    let current: number | undefined = pid;
    current !== undefined && current > 0;
    current = readStatus(proc, current)?.ppid
  ) {
    chain.push(current);
    if (chain.length > 4096) break;
  }
  // The topmost session leader above pid: normally the listener's child, but its
  // parent may also be init (the listener was restarted) or the init of the pid
  // namespace a kernel-leap restore made (criu: seen from inside, that is pid 1).
  const rootPid =
    chain.findLast((candidate) => isSshSession(proc, candidate)) ?? sessionOfScope(proc, pid)?.root;
  if (rootPid === undefined) {
    throw new LeapError(
      'NOT_IN_SESSION',
      `process ${pid} is not inside an ssh session (ancestors: ${chain.join(' <- ')}${whyNotInChain(proc, chain)})`,
      {
        hint: 'run kernel-leap from the ssh session, or pass --pid, --tty pts/N or --all-ssh; a login is an ssh session when logind knows it (sshd with UsePAM yes, and libpam-systemd)',
        exit: ExitCode.usage,
      },
    );
  }
  return describe(proc, rootPid);
}

/** Why the topmost sshd process in the chain (below the listener) is no session: `; 441: logind keeps no record of session 5`. */
function whyNotInChain(proc: ProcSource, chain: readonly number[]): string {
  const candidate = chain.findLast(
    (pid) => (runsSshd(proc, pid) || titledAsSession(proc, pid)) && !isListener(proc, pid),
  );
  return candidate === undefined ? '' : `; ${candidate}: ${whyNotSession(proc, candidate) ?? ''}`;
}

/** The cgroup of a logind session (`/user.slice/user-0.slice/session-3.scope`), if the process is in one. */
export function loginScope(proc: ProcSource, pid: number): string | undefined {
  const path = cgroupOf(proc, pid);
  return path && /\/session-[^/]+\.scope$/.test(path) ? path : undefined;
}

export function scopeMembers(proc: ProcSource, scope: string): number[] {
  return (proc.readText(`/sys/fs/cgroup${scope}/cgroup.procs`) ?? '')
    .split('\n')
    .filter(Boolean)
    .map(Number);
}

/** The root whose tree holds `pid`: the caller's own, which goes last. */
export function treeHolding(
  proc: ProcSource,
  roots: readonly SessionRoot[],
  pid: number,
): number | undefined {
  return ancestorIn(proc, pid, new Set(roots.map((r) => r.pid)));
}

/** `pid` or its nearest ancestor below pid 1 that `pids` holds. */
export function ancestorIn(
  proc: ProcSource,
  pid: number,
  pids: ReadonlySet<number>,
): number | undefined {
  for (
    let current: number | undefined = pid, hops = 0;
    current !== undefined && current > 1 && hops < 4096;
    current = readStatus(proc, current)?.ppid, hops++
  ) {
    if (pids.has(current)) return current;
  }
  return undefined;
}

/** The leader of a logged-in ssh session, as the kernel and logind say (ssh-sessions.ts). */
export function isSshSession(proc: ProcSource, pid: number): boolean {
  return sessionAt(proc, pid) !== undefined;
}

/** A title that reads as a per-connection sshd process (`sshd: alice@pts/1`): anyone can write one (`exec -a`). */
export function titledAsSession(proc: ProcSource, pid: number): boolean {
  const cmdline = readCmdline(proc, pid);
  return /^sshd(-session)?: /.test(cmdline) && !cmdline.includes('[listener]');
}

function describe(proc: ProcSource, pid: number): SessionRoot {
  return { pid, name: readStatus(proc, pid)?.name ?? '?', cmdline: readCmdline(proc, pid) };
}

/**
 * The session of the first process on the tty that still leads up to one. A tty's
 * processes come and go (a ticker's `sleep` may end between the listing and the
 * walk up from it: seen in the 7-session bench), so the tty's session leader, the
 * login shell, is tried first, then the others.
 */
function sessionRootOnTty(proc: ProcSource, tty: string): SessionRoot {
  let firstError: unknown;
  for (const pid of pidsOnTty(proc, tty)) {
    try {
      return sessionRootOf(proc, pid);
    } catch (error) {
      firstError ??= error;
    }
  }
  throw firstError;
}

/** The processes with the tty as stdin, stdout or stderr, session leaders first. */
function pidsOnTty(proc: ProcSource, tty: string): number[] {
  const path = `/dev/${tty}`;
  const holders = listPids(proc).filter((pid) =>
    listFds(proc, pid).some((f) => f.fd <= 2 && f.target === path),
  );
  if (holders.length === 0)
    throw new LeapError('TTY_NOT_FOUND', `no process has ${path} as its terminal`, {
      hint: 'list sessions with `who` or pass --all-ssh',
      exit: ExitCode.usage,
    });
  const leaders = new Set(
    holders.filter((pid) => {
      const status = readStatus(proc, pid);
      return status?.sid !== undefined && status.sid === status.nsPids.at(-1);
    }),
  );
  return [...leaders, ...holders.filter((pid) => !leaders.has(pid))];
}

/**
 * Every logged-in session of every user, each by its leader: under the listener,
 * or under criu for a session an earlier leap restored. A connection still
 * authenticating has no logind session yet and is left out.
 */
function allSshSessions(proc: ProcSource): SessionRoot[] {
  const roots = loggedInSessions(proc);
  if (roots.length === 0)
    throw new LeapError('NO_SSH_SESSIONS', 'no ssh session is open on this machine', {
      hint: 'open one, or pass --pid',
      exit: ExitCode.usage,
    });
  return roots;
}

/** Every logged-in ssh session on the machine, none when there is none. */
export function loggedInSessions(proc: ProcSource): SessionRoot[] {
  return sshSessions(proc).map((s) => describe(proc, s.root));
}

/** The caller's own session goes last: it is dumped last, so a failure before leaves it running to say so. */
export function callerLast(roots: readonly SessionRoot[], own: number | undefined): SessionRoot[] {
  return [...roots.filter((r) => r.pid !== own), ...roots.filter((r) => r.pid === own)];
}

/** The root and every descendant, parents first, without the `exclude` subtrees. */
export function listTree(
  proc: ProcSource,
  root: number,
  exclude: ReadonlySet<number> = new Set(),
): number[] {
  const out: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift() as number;
    if (out.includes(pid) || exclude.has(pid)) continue;
    out.push(pid);
    queue.push(...childrenOf(proc, pid));
  }
  return out;
}
