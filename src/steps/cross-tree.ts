/**
 * Unix streams between two carried trees, such as a tmux client in the ssh
 * session and its server, a tree of the session's logind scope. criu dumps one
 * tree per call, so each end is an external stream of its own tree's dump,
 * restored as a closed socket: the stream is not rejoined. The client sees its
 * server hang up and ends; the server and its windows live on. An attached
 * server also holds its client's terminal, which criu cannot restore without
 * the tree that owns it: the upgrade hangs the client up before the dump; a
 * rehearsal, which changes nothing, dumps that terminal as an external instead.
 */
import type { Config } from '../config/schema.js';
import { externalTtyKey } from '../tools/criu-args.js';
import type { ProcSource } from '../tools/procfs.js';
import { listFds } from '../tools/proc-tasks.js';
import { waitUntil } from '../tools/wait.js';
import { listTree } from './discover.js';
import { type Plan, type Risk, type UnixExternal, verdictOf } from './plan.js';
import { bindPlan, type SessionPlan } from './planning.js';

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
export function crossTreeStreams(plans: ReadonlyArray<Pick<Plan, 'rootPid' | 'unixExternals'>>): CrossTreeStream[] {
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
  return `unix stream${s.path ? ` to ${s.path}` : ''} between tree ${a.root} (pid ${a.pid} fd ${a.fd}) and tree ${b.root} (pid ${b.pid} fd ${b.fd}): not rejoined; each end comes back closed, so a tmux client sees its server hang up and ends, and the server lives on (tmux attach again)`;
}

/** A process whose terminal another tree holds (a tmux client), hung up before the dump so that tree lets go of it. */
export interface TerminalHangUp {
  client: number;
  /** The tree that holds the client's terminal, and which terminals. */
  tree: number;
  terminals: number[];
}

/** The clients, in other trees, of each tree that holds terminals not its own: the ends of its streams between trees. */
export function terminalHangUps(plans: ReadonlyArray<Pick<Plan, 'rootPid' | 'unixExternals' | 'foreignTerminals'>>): TerminalHangUp[] {
  const streams = crossTreeStreams(plans);
  return plans.filter((p) => p.foreignTerminals.length > 0).flatMap((p) => {
    const clients = streams.flatMap((s) => s.ends.some((e) => e.root === p.rootPid) ? s.ends.filter((e) => e.root !== p.rootPid).map((e) => e.pid) : []);
    return [...new Set(clients)].map((client) => ({ client, tree: p.rootPid, terminals: p.foreignTerminals }));
  });
}

/**
 * A plan whose foreign terminals go once its clients hang up: the fail becomes a
 * warning that says so, and the verdict follows. Plans without them are returned as they are.
 */
export function withHangUps<P extends Pick<Plan, 'rootPid' | 'risks' | 'verdict'>>(plan: P, hangUps: readonly TerminalHangUp[], mode: 'upgrade' | 'rehearse' = 'upgrade'): P {
  const mine = hangUps.filter((h) => h.tree === plan.rootPid);
  if (mine.length === 0) return plan;
  const clients = `client${mine.length > 1 ? 's' : ''} (pid ${mine.map((h) => h.client).join(', ')})`;
  const what = mode === 'rehearse'
    ? `the upgrade hangs up its ${clients} before the dump; this rehearsal leaves them attached`
    : `its ${clients} get SIGHUP before the dump, as if the terminal hung up; a tmux client ends, its server lets go of the terminal and lives on`;
  const risks = plan.risks.map((r) => r.code !== 'FOREIGN_TERMINAL' ? r : {
    level: 'warn' as const, code: 'HANG_UP', message: `${heldTerminal(r)}: ${what}`, hint: 'tmux attach again after the leap',
  });
  return { ...plan, risks, verdict: verdictOf(risks) };
}

/**
 * The rehearsal's plan: a rehearsal changes nothing, so it hangs up no client.
 * Each terminal the tree holds but does not own is dumped as an external, which
 * criu then leaves out, instead of failing the plan; the upgrade hangs its client
 * up first and dumps without it.
 */
export function withTerminalsKept(plan: SessionPlan, config: Config, proc: ProcSource): SessionPlan {
  if (plan.foreignTerminals.length === 0) return plan;
  const keys = plan.foreignTerminals.flatMap((n) => {
    const s = proc.stat(`/dev/pts/${n}`);
    return s?.rdev === undefined || s.dev === undefined ? [] : [externalTtyKey(s.rdev, s.dev)];
  });
  const risks = plan.risks.map((r) => r.code !== 'FOREIGN_TERMINAL' ? r : {
    level: 'ok' as const, code: 'TERMINAL_KEPT',
    message: `${heldTerminal(r)}: the rehearsal dumps it as an external terminal and leaves its client attached (the upgrade hangs the client up first)`,
  });
  return bindPlan({ ...plan, externals: [...plan.externals, ...keys], risks, verdict: verdictOf(risks) }, config);
}

/** A FOREIGN_TERMINAL risk's message without its verdict, to say what becomes of the terminal instead. */
function heldTerminal(risk: Risk): string {
  return risk.message.replace(/; criu cannot restore it$/, '');
}

/** Sends SIGHUP to each client and waits until the trees holding their terminals have let go of them. */
export async function hangUpClients(proc: ProcSource, hangUps: readonly TerminalHangUp[], timeoutMs = 10_000): Promise<void> {
  for (const h of hangUps) signalIfAlive(h.client);
  const held = () => hangUps.some((h) => listTree(proc, h.tree).some((pid) => listFds(proc, pid).some((f) => h.terminals.some((n) => f.target === `/dev/pts/${n}`))));
  await waitUntil(() => !held(), timeoutMs, 'the trees to let go of their clients\' terminals', 'a tree still holds another tree\'s terminal: detach its client by hand (tmux detach) and run the upgrade again', { code: 'TERMINAL_HELD' });
}

function signalIfAlive(pid: number): void {
  try {
    process.kill(pid, 'SIGHUP');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}
