/**
 * What the kexec ends that the leap does not carry: the other ssh sessions, and
 * the processes of a carried login session (its logind scope) that no carried
 * tree holds: the scope's own trees (a tmux server, a nohup job) are carried
 * (scope-trees.ts), so these are ones started after the trees were picked. Nothing is lost silently:
 * plan, rehearse and upgrade list these, and another user's session is a no-go
 * unless the user accepts the loss. A process titled as an ssh session that is
 * none (ssh-sessions.ts) is listed too, with its real user: any user can write
 * such a title, so it is only a warning, or anyone could veto every leap.
 */
import { accountName } from '../../tools/accounts.js';
import { printable } from '../../tools/printable.js';
import { isAlive, listPids, readCmdline, readStatus } from '../../tools/proc-tasks.js';
import type { ProcSource } from '../../tools/procfs.js';
import {
  isSshSession,
  listTree,
  loggedInSessions,
  sessionLogin,
  titledAsSession,
} from './discover.js';
import { outsideTrees, sessionScopes } from './scope-trees.js';
import { isRestoredRoot, sshSessions, whyNotSession } from './ssh-sessions.js';

export interface Loss {
  kind: 'ssh-session' | 'session-process' | 'restored-tree' | 'not-a-session';
  pid: number;
  user: string;
  tty: string;
  cmdline: string;
  /** fail: another user's session, refused unless --all-ssh or --allow-loss; warn: listed. */
  level: 'warn' | 'fail';
  /** For a process titled as a session that is none: why it is none. */
  why?: string;
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
    })
    .filter((loss) => stillLeads(proc, loss.pid));
  const processes = [...outsideScopes(proc, roots, exclude), ...restoredTrees(proc, roots)];
  return [...sessions, ...processes, ...titledOnly(proc, roots, exclude, processes)];
}

/**
 * Whether a session's leader was still there once its login was read: a
 * connection that closes meanwhile leaves a leader that is gone, a zombie, or
 * past freeing its memory, which empties its command line; logind has by then
 * forgotten its user, so it would read as an unknown user's loss and veto the
 * leap. No user can empty the leader's title: it runs as root.
 */
function stillLeads(proc: ProcSource, pid: number): boolean {
  return isAlive(proc, pid) && readCmdline(proc, pid) !== '';
}

/**
 * The processes titled as a logged-in ssh session (`sshd: root@pts/9`) that
 * lead none and are in no session's tree nor a carried tree: what a title alone
 * would have made a session. The kexec ends them; each is listed with the user
 * it runs as, whatever its title says.
 */
function titledOnly(
  proc: ProcSource,
  roots: readonly number[],
  exclude: ReadonlySet<number>,
  listed: readonly Loss[],
): Loss[] {
  const known = new Set([
    ...[...roots, ...sshSessions(proc).map((s) => s.root)].flatMap((root) => listTree(proc, root)),
    ...listed.map((l) => l.pid),
    ...exclude,
  ]);
  return listPids(proc)
    .filter(
      (pid) =>
        !known.has(pid) && titledAsSession(proc, pid) && readCmdline(proc, pid).includes('@'),
    )
    .map((pid) => ({
      ...uncarried(proc, pid, 'not-a-session'),
      why: whyNotSession(proc, pid) ?? '',
    }));
}

/** A process no tree carries, as its real user's, with no terminal of its own named. */
function uncarried(proc: ProcSource, pid: number, kind: Loss['kind']): Loss {
  return {
    kind,
    pid,
    user: accountName(proc, readStatus(proc, pid)?.uid),
    tty: '?',
    cmdline: readCmdline(proc, pid),
    level: 'warn',
  };
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
    .map((pid) => uncarried(proc, pid, 'restored-tree'));
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
    'not-a-session': `a process of ${loss.user}'s titled as an ssh session, which it is not (${loss.why ?? 'not one by the kernel and logind'}), not carried`,
  }[loss.kind];
  return printable(`${what}: pid ${loss.pid} (${loss.cmdline})`);
}
