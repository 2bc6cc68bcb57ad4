/**
 * The rest of a login session: what a carried ssh session started that left its
 * process tree but stays in its logind scope (session-N.scope), such as a tmux or
 * screen server (it daemonizes under pid 1), a nohup job whose shell exited, or a
 * setsid job. criu dumps one tree per call, so each topmost such process roots a
 * tree of its own, dumped and restored beside the session.
 */
import { readCmdline, readStatus } from '../../tools/proc-tasks.js';
import type { ProcSource } from '../../tools/procfs.js';
import {
  ancestorIn,
  isSshSession,
  listTree,
  loginScope,
  scopeMembers,
  type SessionRoot,
} from './discover.js';

/** Each logind scope of the carried ssh sessions, with the session's root. */
export function sessionScopes(proc: ProcSource, roots: readonly number[]): Map<string, number> {
  const scopes = new Map<string, number>();
  for (const root of roots.filter((pid) => isSshSession(proc, pid))) {
    const scope = loginScope(proc, root);
    if (scope && !scopes.has(scope)) scopes.set(scope, root);
  }
  return scopes;
}

/** The live members of a scope that no carried tree holds, nor was born into since it was listed (a ticker's next `sleep`). */
export function outsideTrees(
  proc: ProcSource,
  scope: string,
  carried: ReadonlySet<number>,
  exclude: ReadonlySet<number>,
): number[] {
  return scopeMembers(proc, scope).filter(
    (pid) =>
      !exclude.has(pid) &&
      readStatus(proc, pid) !== undefined &&
      ancestorIn(proc, pid, carried) === undefined,
  );
}

/**
 * The sessions, then the extra trees of their logind scopes: each a scope member
 * outside the carried trees whose parent is not such a member (pid 1, or a process
 * out of the scope). `exclude`: our own processes.
 */
export function withScopeTrees(
  proc: ProcSource,
  roots: readonly SessionRoot[],
  exclude: ReadonlySet<number>,
): SessionRoot[] {
  const carried = new Set(roots.flatMap((r) => listTree(proc, r.pid)));
  const extra: SessionRoot[] = [];
  for (const [scope, session] of sessionScopes(
    proc,
    roots.map((r) => r.pid),
  )) {
    const outside = outsideTrees(proc, scope, carried, exclude);
    const topmost = outside.filter((pid) => !outside.includes(readStatus(proc, pid)?.ppid ?? 0));
    for (const pid of topmost)
      extra.push({
        pid,
        name: readStatus(proc, pid)?.name ?? '?',
        cmdline: readCmdline(proc, pid),
        scopeTree: { session, scope },
      });
  }
  return [...roots, ...extra];
}
