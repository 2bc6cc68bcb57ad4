/**
 * Plan: classify everything in the tree that reaches outside it, pick a strategy
 * and the CRIU options for each, and name every risk. Pure and synchronous: it
 * runs on recorded facts in tests, and check/plan/rehearse/upgrade share it.
 */
import type { HeldFile } from '../../state/held-files.js';
import type { Endpoint, ReopenedFile, SocketDir } from '../../state/manifest.js';
import { externalFileKey } from '../../tools/criu-args.js';
import { type CriuAbilities, criuAbilities, criuLabel } from '../../tools/criu-features.js';
import type { InterfaceFacts } from '../../tools/ip.js';
import type { NetworkStack } from '../../tools/network-stack.js';
import type { TcpSocket } from '../../tools/proc-net.js';
import type { FdFacts } from '../../tools/proc-tasks.js';
import type { OwnPidNamespace, PlanFacts, TaskFacts } from './facts.js';
import { heldFileRisks } from './held-files.js';
import { networkStackNotes } from './network.js';

export type RiskLevel = 'ok' | 'warn' | 'fail';
export interface Risk {
  level: RiskLevel;
  code: string;
  message: string;
  hint?: string;
}

export interface Connection {
  pid: number;
  fd: number;
  local: Endpoint;
  peer: Endpoint;
  family: TcpSocket['family'];
}
export interface ExternalFifo {
  pid: number;
  fd: number;
  path: string;
  key: string;
  mode: number;
  uid: number;
  gid: number;
}
export interface UnixExternal {
  pid: number;
  fd: number;
  inode: number;
  peerInode: number;
  peerPath: string | undefined;
}
export interface Ghost {
  pid: number;
  path: string;
  size: number;
  mode: number;
  kind: 'exe' | 'map' | 'fd';
}
/** exe: what /proc/PID/exe names, e.g. "/usr/sbin/sshd (deleted)". */
export interface ExecBitFix {
  pid: number;
  exe: string;
}

export interface Plan {
  /** The CRIU the plan was made for: its version and what it can and cannot do. */
  criu: CriuAbilities;
  rootPid: number;
  pids: number[];
  connections: Connection[];
  ptys: number[];
  /** Terminals the tree holds without their master: another tree's (a tmux server holds its attached client's). */
  foreignTerminals: number[];
  /** Held terminals another carried tree owns, dumped as externals and opened again at the restore. */
  keptTerminals: Array<{ pts: number; key: string; nonBlocking: boolean }>;
  /** Left stopped after the dump, not killed: another tree of the leap, dumped later, holds its terminal or talks to it. */
  stopAfterDump: boolean;
  fifos: ExternalFifo[];
  unixExternals: UnixExternal[];
  ghosts: Ghost[];
  execBitFixes: ExecBitFix[];
  fileLocks: boolean;
  /** --external keys, in the order criu gets them. */
  externals: string[];
  ghostLimitBytes: number | undefined;
  /** Set for a session kernel-leap restored: criu enters its namespaces and leaves it stopped. */
  ownPidNamespace: OwnPidNamespace | undefined;
  /** The stacks that bring the interfaces up, which decide how the lock rules get in first. */
  networkStacks: NetworkStack[] | undefined;
  /** The interfaces' addresses and default routes, which decide the addresses put back early at boot. */
  interfaces: InterfaceFacts | undefined;
  /** The root does not lead its session: dumped and restored with --shell-job, it joins criu's session. */
  shellJob: boolean;
  /** Directories of the tree's bound unix sockets, made again at restore if the boot removed them. */
  socketDirs: SocketDir[];
  /** Regular files held open that the boot clears: copied after the dump, put back before the restore. */
  heldFiles: HeldFile[];
  /** Regular files held by path in a tree of a user other than root: checked before criu opens them again as root. */
  reopenedFiles: ReopenedFile[];
  risks: Risk[];
  verdict: 'go' | 'no-go';
}

const MIB = 1024 * 1024;
const CRIU_DEFAULT_GHOST_LIMIT = MIB;
const PLAIN_DEVICES = new Set([
  '/dev/null',
  '/dev/zero',
  '/dev/full',
  '/dev/random',
  '/dev/urandom',
  '/dev/tty',
  '/dev/ptmx',
]);
// Measured with CRIU 3.17.1 on 6.1: a nested net namespace dumps; these fail with
// "Can't dump nested <ns> namespace" (criu/namespaces.c), as they still do in v4.2.
const NESTED_NS_UNSUPPORTED = ['pid', 'ipc', 'uts', 'user'] as const;

/** Any failing risk makes a no-go. */
export function verdictOf(risks: readonly Risk[]): Plan['verdict'] {
  return risks.some((r) => r.level === 'fail') ? 'no-go' : 'go';
}

/** Why plans say no-go, on one line: each failing risk with its tree's root (auto's record and status quote it). */
export function noGoReasons(plans: ReadonlyArray<Pick<Plan, 'rootPid' | 'risks'>>): string {
  return plans
    .flatMap((p) =>
      p.risks
        .filter((r) => r.level === 'fail')
        .map((r) => `tree ${p.rootPid}: ${r.code} ${r.message}`),
    )
    .join('; ');
}

export function plan(facts: PlanFacts): Plan {
  const out: Plan = {
    criu: criuAbilities(facts.criuVersion),
    rootPid: facts.rootPid,
    pids: facts.tasks.map((t) => t.pid),
    connections: [],
    ptys: [],
    foreignTerminals: [],
    keptTerminals: [],
    stopAfterDump: false,
    fifos: [],
    unixExternals: [],
    ghosts: [],
    execBitFixes: [],
    fileLocks: facts.lockPids.length > 0,
    externals: [],
    ghostLimitBytes: undefined,
    ownPidNamespace: facts.ownPidNamespace,
    networkStacks: facts.networkStacks,
    interfaces: facts.interfaces,
    shellJob: facts.shellJob ?? false,
    socketDirs: facts.socketDirs ?? [],
    heldFiles: facts.heldFiles?.files ?? [],
    reopenedFiles: facts.reopenedFiles ?? [],
    risks: [],
    verdict: 'go',
  };
  const treeSockets = new Set(
    facts.tasks.flatMap((t) =>
      t.fds.map((f) => socketInode(f.target)).filter((i): i is number => i !== undefined),
    ),
  );
  const ptys = new Set<number>();
  for (const task of facts.tasks) {
    checkNamespaces(task, facts, out);
    checkExe(task, out);
    for (const map of task.deletedMaps)
      if (map.stat)
        out.ghosts.push({
          pid: task.pid,
          path: map.path,
          size: map.stat.size,
          mode: map.stat.mode,
          kind: 'map',
        });
    for (const fd of task.fds) classifyFd(task, fd, facts, treeSockets, ptys, out);
  }
  out.ptys = [...ptys].sort((a, b) => a - b);
  out.foreignTerminals = foreignTerminals(facts.tasks);
  out.ghosts = dedupeGhosts(out.ghosts);
  out.ghostLimitBytes = ghostLimit(out.ghosts);
  out.externals = [
    ...new Set([
      ...out.fifos.map((f) => f.key),
      ...out.unixExternals.map((u) => `unix[${u.inode}]`),
    ]),
  ];
  summarize(out);
  if (facts.heldFiles) out.risks.push(...heldFileRisks(facts.heldFiles, facts.copyRoom));
  out.verdict = verdictOf(out.risks);
  return out;
}

function socketInode(target: string): number | undefined {
  const m = /^socket:\[(\d+)\]$/.exec(target);
  return m ? Number(m[1]) : undefined;
}

function checkNamespaces(task: TaskFacts, facts: PlanFacts, out: Plan): void {
  for (const ns of NESTED_NS_UNSUPPORTED) {
    const mine = task.namespaces[ns];
    if (mine && facts.dumpNamespaces[ns] && mine !== facts.dumpNamespaces[ns]) {
      out.risks.push({
        level: 'fail',
        code: 'NESTED_NAMESPACE',
        message: `${task.name} (${task.pid}) runs in its own ${ns} namespace (${mine}); ${criuLabel(out.criu)} fails with "Can't dump nested ${ns} namespace"`,
        hint: `end that process (kill ${task.pid}) before the upgrade`,
      });
    }
  }
}

function checkExe(task: TaskFacts, out: Plan): void {
  if (!task.exe?.endsWith(' (deleted)') || !task.exeStat) return;
  out.ghosts.push({
    pid: task.pid,
    path: task.exe.slice(0, -' (deleted)'.length),
    size: task.exeStat.size,
    mode: task.exeStat.mode,
    kind: 'exe',
  });
  // dpkg may chmod the old binary to 0600; restore then fails in PR_SET_MM_MAP (docs/criu-facts.md §12).
  if ((task.exeStat.mode & 0o111) === 0) out.execBitFixes.push({ pid: task.pid, exe: task.exe });
}

function classifyFd(
  task: TaskFacts,
  fd: FdFacts,
  facts: PlanFacts,
  treeSockets: Set<number>,
  ptys: Set<number>,
  out: Plan,
): void {
  const where = `${task.name} (${task.pid}) fd ${fd.fd}`;
  const inode = socketInode(fd.target);
  if (inode !== undefined) return classifySocket(task, fd, inode, facts, treeSockets, out, where);
  if (fd.target === '/dev/ptmx' && fd.ttyIndex !== undefined) ptys.add(fd.ttyIndex);
  const pts = /^\/dev\/pts\/(\d+)$/.exec(fd.target);
  if (pts) return void ptys.add(Number(pts[1]));
  if (fd.target.startsWith('anon_inode:')) {
    const kind = fd.target.slice('anon_inode:'.length);
    if (!out.criu.anonInodes.has(kind))
      out.risks.push({
        level: 'fail',
        code: 'UNSUPPORTED_FD',
        message: `${where} is ${fd.target}, which ${criuLabel(out.criu)} cannot dump`,
        hint: `end ${task.name} (${task.pid}) before the upgrade`,
      });
    return;
  }
  if (
    fd.target.startsWith('/dev/') &&
    !PLAIN_DEVICES.has(fd.target) &&
    (fd.stat?.mode ?? 0) & 0o020000
  ) {
    out.risks.push({
      level: 'warn',
      code: 'DEVICE_FD',
      message: `${where} holds device ${fd.target}; CRIU may refuse it`,
      hint: 'the rehearsal will tell',
    });
  }
  if (fd.target.endsWith(' (deleted)') && fd.stat)
    out.ghosts.push({
      pid: task.pid,
      path: fd.target.slice(0, -' (deleted)'.length),
      size: fd.stat.size,
      mode: fd.stat.mode,
      kind: 'fd',
    });
  if (fd.mntId !== undefined && fd.target.startsWith('/') && !facts.treeMountIds.includes(fd.mntId))
    classifyForeignFile(task, fd, out, where);
}

/** A file opened in another mount namespace: logind's session FIFO (docs/criu-facts.md §9). */
function classifyForeignFile(task: TaskFacts, fd: FdFacts, out: Plan, where: string): void {
  const stat = fd.stat;
  if (!stat || (stat.mode & 0o170000) !== 0o010000) {
    out.risks.push({
      level: 'fail',
      code: 'FOREIGN_FILE',
      message: `${where} is ${fd.target} from another mount namespace and is not a FIFO; CRIU cannot look it up`,
      hint: `close it or end ${task.name} before the upgrade`,
    });
    return;
  }
  const key = externalFileKey(fd.mntId ?? 0, stat.ino);
  // OpenSSH 10's monitor and its session child both hold logind's FIFO: one file, one external.
  if (out.fifos.some((f) => f.key === key)) return;
  out.fifos.push({
    pid: task.pid,
    fd: fd.fd,
    path: fd.target,
    key,
    mode: stat.mode & 0o7777,
    uid: stat.uid,
    gid: stat.gid,
  });
}

/** CRIU locks a v4-mapped address (::ffff:a.b.c.d) with iptables, a native IPv6 one with ip6tables. */
function isNativeIpv6(tcp: TcpSocket): boolean {
  return tcp.family === 'ipv6' && !/^::ffff:[0-9a-f]{1,4}:[0-9a-f]{1,4}$/.test(tcp.local.ip);
}

function classifySocket(
  task: TaskFacts,
  fd: FdFacts,
  inode: number,
  facts: PlanFacts,
  treeSockets: Set<number>,
  out: Plan,
  where: string,
): void {
  const tcp = facts.tcp.find((s) => s.inode === inode);
  if (tcp) {
    if (tcp.state === '01' && isNativeIpv6(tcp)) {
      out.risks.push({
        level: 'fail',
        code: 'TCP_IPV6',
        message: `${where} is TCP over IPv6 ([${tcp.local.ip}]:${tcp.local.port} <-> [${tcp.peer.ip}]:${tcp.peer.port}); kernel-leap reloads only IPv4 lock rules at boot, so the peer's retransmits would be reset`,
        hint: 'reconnect over IPv4 (e.g. ssh -4) before the upgrade',
      });
    } else if (tcp.state === '01')
      addConnection(out, {
        pid: task.pid,
        fd: fd.fd,
        local: tcp.local,
        peer: tcp.peer,
        family: tcp.family,
      });
    else if (tcp.state !== '0A')
      out.risks.push({
        level: 'warn',
        code: 'TCP_STATE',
        message: `${where} is a TCP socket in state ${tcp.state}`,
        hint: 'CRIU dumps established and listening sockets; wait for it to settle',
      });
    return;
  }
  const unix = facts.unix.find((s) => s.inode === inode);
  if (!unix) return;
  const peer = new Map(facts.unixPeers).get(inode);
  // A connected stream whose live peer is outside the tree: dumped as an external, reconnected as a closed socket.
  if (
    unix.type === '0001' &&
    unix.state === '03' &&
    peer !== undefined &&
    peer !== 0 &&
    !treeSockets.has(peer)
  ) {
    const peerPath = facts.unix.find((s) => s.inode === peer)?.path;
    out.unixExternals.push({ pid: task.pid, fd: fd.fd, inode, peerInode: peer, peerPath });
  }
}

/** One entry per connection: children that inherited the socket hold the same 4-tuple. */
function addConnection(out: Plan, connection: Connection): void {
  const same = (e: Endpoint, f: Endpoint) => e.ip === f.ip && e.port === f.port;
  if (
    !out.connections.some((c) => same(c.local, connection.local) && same(c.peer, connection.peer))
  )
    out.connections.push(connection);
}

function foreignTerminals(tasks: readonly TaskFacts[]): number[] {
  const fds = tasks.flatMap((t) => t.fds);
  const masters = new Set(fds.filter((f) => f.target === '/dev/ptmx').map((f) => f.ttyIndex));
  const slaves = new Set(
    fds
      .map((f) => /^\/dev\/pts\/(\d+)$/.exec(f.target)?.[1])
      .filter((n) => n !== undefined)
      .map(Number),
  );
  return [...slaves].filter((n) => !masters.has(n)).sort((a, b) => a - b);
}

function dedupeGhosts(ghosts: Ghost[]): Ghost[] {
  const byPath = new Map<string, Ghost>();
  for (const g of ghosts) if (!byPath.has(g.path)) byPath.set(g.path, g);
  return [...byPath.values()];
}

/** Covers the largest deleted file, rounded up to a MiB plus one spare (docs/criu-facts.md §11). */
export function ghostLimit(ghosts: readonly Ghost[]): number | undefined {
  const largest = Math.max(0, ...ghosts.map((g) => g.size));
  if (largest <= CRIU_DEFAULT_GHOST_LIMIT) return undefined;
  return (Math.ceil(largest / MIB) + 1) * MIB;
}

function summarize(out: Plan): void {
  out.risks.unshift({
    level: 'ok',
    code: 'CRIU',
    message: `${criuLabel(out.criu)}: ${out.criu.summary}`,
  });
  for (const c of out.connections)
    out.risks.push({
      level: 'ok',
      code: 'TCP',
      message: `TCP ${c.local.ip}:${c.local.port} <-> ${c.peer.ip}:${c.peer.port}: --tcp-established, ${out.criu.networkLock.method} lock rules reloaded before the network`,
    });
  if (out.networkStacks)
    for (const note of networkStackNotes(out.networkStacks))
      out.risks.push({ code: 'NETWORK', ...note });
  for (const f of out.fifos)
    out.risks.push({
      level: 'ok',
      code: 'FIFO',
      message: `${f.path} (another mount namespace): --external ${f.key}, recreated at restore`,
    });
  for (const u of out.unixExternals)
    out.risks.push({
      level: 'warn',
      code: 'UNIX_EXTERNAL',
      message: `unix stream socket ${u.inode} to ${u.peerPath ?? `peer ${u.peerInode}`}: --external unix[${u.inode}], degraded: reconnected as a closed socket`,
      hint: 'the process sees its peer hang up after the restore',
    });
  for (const g of out.ghosts)
    out.risks.push({
      level: 'ok',
      code: 'GHOST',
      message: `deleted ${g.kind} ${g.path} (${g.size} bytes): copied into the images`,
    });
  for (const f of out.execBitFixes)
    out.risks.push({
      level: 'warn',
      code: 'EXEC_BIT',
      message: `${f.exe} of ${f.pid} has no exec bit: chmod u+x before the dump`,
      hint: 'recorded in the journal',
    });
  const own = out.ownPidNamespace;
  if (own)
    out.risks.push({
      level: 'ok',
      code: 'OWN_PID_NAMESPACE',
      message: `restored earlier: pid ${own.rootNsPid} under init ${own.initPid} in its own pid namespace; criu dumps from inside it (nsenter) and leaves the tree stopped, so that init survives the dump`,
    });
  if (out.shellJob)
    out.risks.push({
      level: 'ok',
      code: 'SHELL_JOB',
      message: `root ${out.rootPid} does not lead its session (its shell has gone, or is in another tree): --shell-job, and it comes back in a session of its own`,
    });
  for (const d of out.socketDirs)
    out.risks.push({
      level: 'ok',
      code: 'SOCKET_DIR',
      message: `unix socket in ${d.path} (mode ${d.mode.toString(8)}, uid ${d.uid}): the directory is made again at restore if the boot removed it`,
    });
  // criu restores a slave without its master only on its own terminal (CRIU 3.17 tty.c, pty_open_unpaired_slave).
  for (const n of out.foreignTerminals)
    out.risks.push({
      level: 'fail',
      code: 'FOREIGN_TERMINAL',
      message: `the tree holds /dev/pts/${n} but not its master: another tree's terminal (a tmux server holds its attached client's); criu cannot restore it`,
      hint: `detach that client (tmux detach) or close /dev/pts/${n} in the tree before the upgrade`,
    });
  if (out.ptys.length > 0)
    out.risks.push({
      level: 'ok',
      code: 'PTY',
      message: `ptys ${out.ptys.map((p) => `pts/${p}`).join(', ')}: remapped at restore only if taken`,
    });
}
