/**
 * What the kexec ends that the leap does not carry: the other ssh sessions, and
 * the processes of a carried login session (its logind scope) that live outside
 * the carried tree, such as a tmux server or a nohup job. Nothing is lost silently:
 * plan, rehearse and upgrade list these, and another user's session is a no-go
 * unless the user accepts the loss.
 */
import type { ProcSource } from '../tools/procfs.js';
import { readCmdline, readStatus } from '../tools/proc-tasks.js';
import { listTree, loggedInSessions, sessionLogin } from './discover.js';

export interface Loss {
  kind: 'ssh-session' | 'session-process';
  pid: number;
  user: string;
  tty: string;
  cmdline: string;
  /** fail: another user's session, refused unless --all-ssh or --allow-loss; warn: listed. */
  level: 'warn' | 'fail';
}

/**
 * roots: the sessions carried; ownUser: who runs the leap (a login name, from the
 * caller's own session, or undefined outside one). exclude: our own processes.
 */
export function leftBehind(proc: ProcSource, roots: readonly number[], ownUser: string | undefined, exclude: ReadonlySet<number> = new Set()): Loss[] {
  const carried = new Set(roots);
  const sessions = loggedInSessions(proc).filter((s) => !carried.has(s.pid)).map((s): Loss => {
    const login = sessionLogin(proc, s.pid);
    return { kind: 'ssh-session', pid: s.pid, ...login, cmdline: s.cmdline, level: login.user === ownUser ? 'warn' : 'fail' };
  });
  return [...sessions, ...outsideTrees(proc, roots, exclude)];
}

/** Processes in a carried session's logind scope (session-N.scope) that its tree does not hold. */
function outsideTrees(proc: ProcSource, roots: readonly number[], exclude: ReadonlySet<number>): Loss[] {
  const inTrees = new Set(roots.flatMap((root) => listTree(proc, root)));
  return roots.flatMap((root) => {
    const scope = loginScope(proc, root);
    if (!scope) return [];
    const login = sessionLogin(proc, root);
    return scopeMembers(proc, scope)
      .filter((pid) => !exclude.has(pid) && readStatus(proc, pid) !== undefined && !descendsFrom(proc, pid, inTrees))
      .map((pid): Loss => ({ kind: 'session-process', pid, ...login, cmdline: readCmdline(proc, pid), level: 'warn' }));
  });
}

/** In a carried tree, or born into one since it was listed (a ticker's next `sleep`): carried, not lost. */
function descendsFrom(proc: ProcSource, pid: number, trees: ReadonlySet<number>): boolean {
  for (let current: number | undefined = pid, hops = 0; current !== undefined && current > 1 && hops < 4096; current = readStatus(proc, current)?.ppid, hops++) {
    if (trees.has(current)) return true;
  }
  return false;
}

/** The cgroup of a logind session (`/user.slice/user-0.slice/session-3.scope`), if the process is in one. */
function loginScope(proc: ProcSource, pid: number): string | undefined {
  const path = proc.readText(`/proc/${pid}/cgroup`)?.match(/^0::(\S+)$/m)?.[1];
  return path && /\/session-[^/]+\.scope$/.test(path) ? path : undefined;
}

function scopeMembers(proc: ProcSource, scope: string): number[] {
  return (proc.readText(`/sys/fs/cgroup${scope}/cgroup.procs`) ?? '').split('\n').filter(Boolean).map(Number);
}

/** One line per loss, for the plan and the report. */
export function describeLoss(loss: Loss): string {
  const what = loss.kind === 'ssh-session' ? `${loss.user}'s ssh session on ${loss.tty}` : `a process of ${loss.user}'s session outside the carried tree`;
  return `${what}: pid ${loss.pid} (${loss.cmdline})`;
}
