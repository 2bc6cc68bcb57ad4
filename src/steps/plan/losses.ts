/**
 * What the kexec ends that the leap does not carry: the other ssh sessions, and
 * the processes of a carried login session (its logind scope) that no carried
 * tree holds: the scope's own trees (a tmux server, a nohup job) are carried
 * (scope-trees.ts), so these are ones started after the trees were picked. Nothing is lost silently:
 * plan, rehearse and upgrade list these, and another user's session is a no-go
 * unless the user accepts the loss.
 */
import { printable } from '../../tools/printable.js';
import { listPids, readCmdline, readStatus } from '../../tools/proc-tasks.js';
import type { ProcSource } from '../../tools/procfs.js';
import { isSshSession, listTree, loggedInSessions, sessionLogin } from './discover.js';
import { outsideTrees, sessionScopes } from './scope-trees.js';

export interface Loss {
  kind: 'ssh-session' | 'session-process' | 'restored-tree';
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
export function leftBehind(
  proc: ProcSource,
  roots: readonly number[],
  ownUser: string | undefined,
  exclude: ReadonlySet<number> = new Set(),
): Loss[] {
  const carried = new Set(roots);
  const sessions = loggedInSessions(proc)
    .filter((s) => !carried.has(s.pid))
    .map((s): Loss => {
      const login = sessionLogin(proc, s.pid);
      return {
        kind: 'ssh-session',
        pid: s.pid,
        ...login,
        cmdline: s.cmdline,
        level: login.user === ownUser ? 'warn' : 'fail',
      };
    });
  return [...sessions, ...outsideScopes(proc, roots, exclude), ...restoredTrees(proc, roots)];
}

/**
 * The trees an earlier leap restored that no carried tree holds: each lives in a
 * kernel-leap-session-<run>.scope of its own, under the criu that restored it,
 * outside any logind scope, so the scope walk above does not see it (a tmux
 * server of a session that leapt before). A restored ssh session is listed above.
 */
function restoredTrees(proc: ProcSource, roots: readonly number[]): Loss[] {
  const carried = new Set(roots.flatMap((root) => listTree(proc, root)));
  return listPids(proc)
    .filter((pid) => !carried.has(pid) && !isSshSession(proc, pid) && isRestoredRoot(proc, pid))
    .map((pid): Loss => ({
      kind: 'restored-tree',
      pid,
      user: userOf(proc, pid),
      tty: '?',
      cmdline: readCmdline(proc, pid),
      level: 'warn',
    }));
}

/** The child of the criu that restored it, in a kernel-leap session scope. */
function isRestoredRoot(proc: ProcSource, pid: number): boolean {
  const scope = proc
    .readText(`/proc/${pid}/cgroup`)
    ?.match(/^0::\S*\/kernel-leap-session-[^/]+\.scope$/m);
  const parent = readStatus(proc, pid)?.ppid;
  return (
    scope !== null &&
    scope !== undefined &&
    parent !== undefined &&
    readStatus(proc, parent)?.name === 'criu'
  );
}

function userOf(proc: ProcSource, pid: number): string {
  const uid = /^Uid:\s+(\d+)/m.exec(proc.readText(`/proc/${pid}/status`) ?? '')?.[1];
  return uid === '0' ? 'root' : `uid ${uid ?? '?'}`;
}

/** Processes in a carried session's logind scope (session-N.scope) that no carried tree holds. */
function outsideScopes(
  proc: ProcSource,
  roots: readonly number[],
  exclude: ReadonlySet<number>,
): Loss[] {
  const carried = new Set(roots.flatMap((root) => listTree(proc, root)));
  return [...sessionScopes(proc, roots)].flatMap(([scope, session]) => {
    const login = sessionLogin(proc, session);
    return outsideTrees(proc, scope, carried, exclude).map((pid): Loss => ({
      kind: 'session-process',
      pid,
      ...login,
      cmdline: readCmdline(proc, pid),
      level: 'warn',
    }));
  });
}

/**
 * One line per loss, for the plan and the report: the user, tty and command line
 * are the process's own to write, so the line is made printable (report.json keeps it so).
 */
export function describeLoss(loss: Loss): string {
  const what = {
    'ssh-session': `${loss.user}'s ssh session on ${loss.tty}`,
    'session-process': `a process of ${loss.user}'s session outside the carried tree`,
    'restored-tree': `a tree of ${loss.user}'s that an earlier leap restored (a tmux server or a nohup job of a session that leapt before), not carried`,
  }[loss.kind];
  return printable(`${what}: pid ${loss.pid} (${loss.cmdline})`);
}
