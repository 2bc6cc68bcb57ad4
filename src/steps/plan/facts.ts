/** Gathers what plan() classifies: per task fds, maps, namespaces; the tree's sockets. */
import { dirname } from 'node:path';

import type { ReopenedFile, SocketDir } from '../../state/manifest.js';
import type { InterfaceFacts } from '../../tools/ip.js';
import type { NetworkStack } from '../../tools/network-stack.js';
import { readTcp, readUnix, type TcpSocket, type UnixSocket } from '../../tools/proc-net.js';
import {
  deletedMappings,
  type FdFacts,
  listFds,
  lockHolders,
  type Mapping,
  type NamespaceKind,
  readCmdline,
  readExe,
  readMounts,
  readNamespaces,
  readStatus,
} from '../../tools/proc-tasks.js';
import type { ProcSource, StatFacts } from '../../tools/procfs.js';
import { listTree } from './discover.js';
import type { CopyRoom, HeldFiles } from './held-files.js';

export interface TaskFacts {
  pid: number;
  ppid: number;
  name: string;
  /** The real uid; undefined in a recording made before it was kept. */
  uid?: number | undefined;
  cmdline: string;
  exe: string | undefined;
  exeStat: StatFacts | undefined;
  fds: FdFacts[];
  deletedMaps: Mapping[];
  namespaces: Partial<Record<NamespaceKind, string>>;
}

export interface PlanFacts {
  rootPid: number;
  tasks: TaskFacts[];
  /** Mount ids visible in the root's mount namespace; an fd on another is external. */
  treeMountIds: number[];
  tcp: TcpSocket[];
  unix: UnixSocket[];
  /** Unix socket inode -> peer inode (from ss -xn). */
  unixPeers: Array<[number, number]>;
  lockPids: number[];
  /** The namespaces criu dumps from: pid 1's, or the root's pid and mnt ones inside a session kernel-leap restored. */
  dumpNamespaces: Partial<Record<NamespaceKind, string>>;
  /** Set when the root's parent is the init of the root's own pid namespace: the layout a restore leaves. */
  ownPidNamespace: OwnPidNamespace | undefined;
  /** `criu --version`'s version, which decides what the plan can count on; undefined when unknown. */
  criuVersion?: string | undefined;
  /** The root is not its session's leader (a nohup job whose session is another tree's): criu needs --shell-job. */
  shellJob?: boolean;
  /** The directories of the unix sockets the tree binds to a path (tmux's /tmp/tmux-0). */
  socketDirs?: SocketDir[];
  /** The stacks that bring the interfaces up; undefined when not asked (a recording made before they were). */
  networkStacks?: NetworkStack[] | undefined;
  /** The interfaces' IPv4 addresses and default routes; undefined when not asked or ip could not say. */
  interfaces?: InterfaceFacts | undefined;
  /** Regular files the tree holds that the next boot clears (held-files.ts); undefined when not asked. */
  heldFiles?: HeldFiles | undefined;
  /** Free space where their copies go. */
  copyRoom?: CopyRoom | undefined;
  /** The regular files criu opens again by path, as root, for a tree of a user other than root (reopened-files.ts). */
  reopenedFiles?: ReopenedFile[];
}

export interface OwnPidNamespace {
  /** The namespace's init (criu, reaping since the last restore), as the host sees it. */
  initPid: number;
  /** The root's pid inside the namespace, which criu sees from there and the images use. */
  rootNsPid: number;
}

/**
 * `exclude`: kernel-leap's own foreground process, which leaves the session before
 * the dump (Node holds io_uring fds that CRIU 3.17 cannot dump).
 */
export function collectFacts(
  proc: ProcSource,
  rootPid: number,
  unixPeers: Map<number, number>,
  exclude: ReadonlySet<number> = new Set(),
  criuVersion?: string,
): PlanFacts {
  const pids = listTree(proc, rootPid, exclude);
  const unix = readUnix(proc, rootPid);
  const tasks = pids.flatMap((pid): TaskFacts[] => {
    const status = readStatus(proc, pid);
    if (!status) return [];
    return [
      {
        pid,
        ppid: status.ppid,
        name: status.name,
        uid: status.uid,
        cmdline: readCmdline(proc, pid),
        exe: readExe(proc, pid),
        exeStat: proc.stat(`/proc/${pid}/exe`),
        fds: listFds(proc, pid),
        deletedMaps: deletedMappings(proc, pid),
        namespaces: readNamespaces(proc, pid),
      },
    ];
  });
  return {
    rootPid,
    tasks,
    treeMountIds: readMounts(proc, rootPid).map((m) => m.id),
    tcp: readTcp(proc, rootPid),
    unix,
    unixPeers: [...unixPeers],
    lockPids: [...lockHolders(proc)].filter((p) => pids.includes(p)),
    ...dumpVantage(proc, rootPid),
    criuVersion,
    shellJob: isShellJob(proc, rootPid),
    socketDirs: boundSocketDirs(proc, tasks, unix),
  };
}

function isShellJob(proc: ProcSource, rootPid: number): boolean {
  const root = readStatus(proc, rootPid);
  return root?.sid !== undefined && root.sid !== root.nsPids.at(-1);
}

/**
 * criu binds a restored unbound-peer socket (a listener, a bound datagram) to its
 * path again, which fails if the directory is gone: bookworm empties /tmp at boot
 * (tmpfiles `D /tmp`), trixie mounts a fresh tmpfs there.
 */
function boundSocketDirs(
  proc: ProcSource,
  tasks: readonly TaskFacts[],
  unix: readonly UnixSocket[],
): SocketDir[] {
  const inodes = new Set(
    tasks.flatMap((t) =>
      t.fds
        .map((f) => /^socket:\[(\d+)\]$/.exec(f.target)?.[1])
        .filter((i) => i !== undefined)
        .map(Number),
    ),
  );
  const dirs = new Set(
    unix
      .filter((s) => inodes.has(s.inode) && s.state === '01' && s.path?.startsWith('/'))
      .map((s) => dirname(s.path as string)),
  );
  return [...dirs].flatMap((path) => {
    const stat = proc.stat(path);
    return stat ? [{ path, mode: stat.mode & 0o7777, uid: stat.uid, gid: stat.gid }] : [];
  });
}

/**
 * A restored session lives in a pid and mount namespace whose init is its parent.
 * criu dumps it from inside them: from outside it would dump the nested pid
 * namespace without its init and every mount (docs/criu-facts.md §14).
 */
function dumpVantage(
  proc: ProcSource,
  rootPid: number,
): Pick<PlanFacts, 'dumpNamespaces' | 'ownPidNamespace'> {
  const init = readNamespaces(proc, 1);
  const root = readStatus(proc, rootPid);
  const parent = root && readStatus(proc, root.ppid);
  // From the host, the root's NSpid has a level more than init's; from inside, pid 1 is criu itself.
  const nested =
    root !== undefined &&
    parent !== undefined &&
    parent.nsPids.length === root.nsPids.length &&
    parent.nsPids.at(-1) === 1 &&
    (root.nsPids.length > 1 || parent.name === 'criu');
  if (!nested) return { dumpNamespaces: init, ownPidNamespace: undefined };
  const mine = readNamespaces(proc, rootPid);
  return {
    dumpNamespaces: { ...init, pid: mine.pid, mnt: mine.mnt },
    ownPidNamespace: { initPid: parent.pid, rootNsPid: root.nsPids.at(-1) ?? rootPid },
  };
}
