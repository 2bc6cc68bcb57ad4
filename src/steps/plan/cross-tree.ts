/**
 * Unix streams and terminals between two carried trees, such as a tmux client in
 * the ssh session and its server, a tree of the session's logind scope. criu
 * dumps one tree per call, so each end of such a stream is an external of its own
 * tree's dump; both restores meet on one name and get the two ends of one new
 * socketpair, so the client and its server talk again. An attached server also
 * holds its client's terminal, whose master the other tree owns: it is dumped as
 * an external terminal, and its restore, after the owner's, opens that terminal
 * again (docs/criu-facts.md §10; criu tty.c, TTY_TYPE__EXT_TTY).
 */
import type { Config } from '../../config/schema.js';
import { externalTtyKey } from '../../tools/criu-args.js';
import { O_NONBLOCK } from '../../tools/fd-flags.js';
import { listFds } from '../../tools/proc-tasks.js';
import type { ProcSource } from '../../tools/procfs.js';
import { type Plan, type UnixExternal, verdictOf } from './classify.js';
import { bindPlan, type SessionPlan } from './session-plan.js';

export interface StreamEnd {
  /** The root of the carried tree that holds this end. */
  root: number;
  pid: number;
  fd: number;
  inode: number;
}

export interface CrossTreeStream {
  ends: [StreamEnd, StreamEnd];
  /** The path the listening end was bound to (tmux's /tmp/tmux-0/default), if any. */
  path: string | undefined;
}

/** Each stream whose two ends are externals of two of these plans, once. */
export function crossTreeStreams(
  plans: ReadonlyArray<Pick<Plan, 'rootPid' | 'unixExternals'>>,
): CrossTreeStream[] {
  const ends = plans.flatMap((p) => p.unixExternals.map((u) => ({ root: p.rootPid, u })));
  const byInode = new Map(ends.map((e) => [e.u.inode, e]));
  return ends.flatMap(({ root, u }) => {
    const peer = byInode.get(u.peerInode);
    if (!peer || peer.root === root || u.inode > u.peerInode) return [];
    return [{ ends: [end(root, u), end(peer.root, peer.u)], path: u.peerPath ?? peer.u.peerPath }];
  });
}

function end(root: number, u: UnixExternal): StreamEnd {
  return { root, pid: u.pid, fd: u.fd, inode: u.inode };
}

/** One line per stream, for the plan. */
export function describeCrossTreeStream(s: CrossTreeStream): string {
  const [a, b] = s.ends;
  return `unix stream${s.path ? ` to ${s.path}` : ''} between tree ${a.root} (pid ${a.pid} fd ${a.fd}) and tree ${b.root} (pid ${b.pid} fd ${b.fd}): rejoined at the restore, one new socketpair for its two ends; if either tree is not restored, the other end comes back closed`;
}

/**
 * Each plan with its held terminals kept: a terminal the tree holds whose master
 * another of these trees owns is dumped as an external tty[RDEV:DEV] and handed
 * back at the restore, so the fail becomes ok. A terminal whose owner is not
 * carried stays a fail. The owner is left stopped after its dump: dead, it would
 * hang the terminal up before the holder's dump. Other plans are returned as they are.
 */
export function keepHeldTerminals(
  plans: readonly SessionPlan[],
  config: Config,
  proc: ProcSource,
): SessionPlan[] {
  const kept = plans.map((p) =>
    p.foreignTerminals.flatMap((n) => {
      const owner = plans.find(
        (q) => q !== p && q.ptys.includes(n) && !q.foreignTerminals.includes(n),
      );
      const s = proc.stat(`/dev/pts/${n}`);
      return owner && s?.rdev !== undefined && s.dev !== undefined
        ? [
            {
              pts: n,
              key: externalTtyKey(s.rdev, s.dev),
              nonBlocking: heldNonBlocking(proc, p.pids, n),
              owner: owner.rootPid,
            },
          ]
        : [];
    }),
  );
  const owners = new Set(kept.flat().map((k) => k.owner));
  return plans.map((p, i) => {
    const mine = kept[i] ?? [];
    if (mine.length === 0 && !owners.has(p.rootPid)) return p;
    const keptPts = new Set(mine.map((k) => k.pts));
    const risks = p.risks.map((r) => {
      const k =
        r.code === 'FOREIGN_TERMINAL'
          ? mine.find((t) => r.message.includes(`/dev/pts/${t.pts} `))
          : undefined;
      return k
        ? {
            level: 'ok' as const,
            code: 'TERMINAL_KEPT',
            message: `the tree holds /dev/pts/${k.pts}, tree ${k.owner}'s terminal (a tmux server holds its attached client's): dumped as an external, and opened again for this tree once tree ${k.owner} is restored; the client stays attached`,
          }
        : r;
    });
    return bindPlan(
      {
        ...p,
        ptys: p.ptys.filter((n) => !keptPts.has(n)),
        foreignTerminals: p.foreignTerminals.filter((n) => !keptPts.has(n)),
        keptTerminals: [
          ...p.keptTerminals,
          ...mine.map(({ pts, key, nonBlocking }) => ({ pts, key, nonBlocking })),
        ],
        externals: [...p.externals, ...mine.map((k) => k.key)],
        stopAfterDump: p.stopAfterDump || owners.has(p.rootPid),
        risks,
        verdict: verdictOf(risks),
      },
      config,
    );
  });
}

/** Whether the tree holds the terminal O_NONBLOCK (tmux does): the fd opened for it at the restore is made alike. */
function heldNonBlocking(proc: ProcSource, pids: readonly number[], pts: number): boolean {
  const fd = pids.flatMap((pid) => listFds(proc, pid)).find((f) => f.target === `/dev/pts/${pts}`);
  return ((fd?.flags ?? 0) & O_NONBLOCK) !== 0;
}

/**
 * Each plan with the ends of its streams to another of these trees named for the
 * restore to rejoin. Such a tree is left stopped after its dump: dead, it would
 * close its end before the other tree's dump, whose end would then read EOF.
 */
export function withRejoins(
  plans: readonly SessionPlan[],
  leapId: string,
  config: Config,
): SessionPlan[] {
  const names = new Map<string, string>(
    crossTreeStreams(plans).flatMap((s) => {
      const name = `kernel-leap-${leapId}-${s.ends[0].inode}-${s.ends[1].inode}`;
      return s.ends.map((e) => [`socket:[${e.inode}]`, name] as const);
    }),
  );
  return plans.map((p) => {
    if (!p.unixReconnects.some((u) => names.has(u.key))) return p;
    const risks = p.risks.map((r) => {
      const inode =
        r.code === 'UNIX_EXTERNAL' ? /^unix stream socket (\d+) /.exec(r.message)?.[1] : undefined;
      return inode && names.has(`socket:[${inode}]`)
        ? {
            level: 'ok' as const,
            code: 'UNIX_REJOINED',
            message: `unix stream socket ${inode} to another carried tree: --external unix[${inode}], rejoined with the other end at the restore`,
          }
        : r;
    });
    const stopped = bindPlan({ ...p, risks, stopAfterDump: true }, config);
    return {
      ...stopped,
      unixReconnects: stopped.unixReconnects.map((u) =>
        names.has(u.key) ? { ...u, rejoin: names.get(u.key) } : u,
      ),
    };
  });
}

/** The plans of one leap's trees, linked: held terminals kept, streams between them rejoined (`leapId` names the meeting points). */
export function linkTrees(
  plans: readonly SessionPlan[],
  config: Config,
  proc: ProcSource,
  leapId: string,
): SessionPlan[] {
  return withRejoins(keepHeldTerminals(plans, config, proc), leapId, config);
}
