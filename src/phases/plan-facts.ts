/** Gathers what plan() classifies: per task fds, maps, namespaces; the tree's sockets. */
import type { ProcSource, StatFacts } from '../tools/procfs.js';
import { readTcp, readUnix, type TcpSocket, type UnixSocket } from '../tools/proc-net.js';
import { deletedMappings, type FdFacts, listFds, lockHolders, type Mapping, mountIds, type NamespaceKind, readCmdline, readNamespaces, readStatus } from '../tools/proc-tasks.js';
import { listTree } from './discover.js';

export interface TaskFacts {
  pid: number;
  ppid: number;
  name: string;
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
  /** Namespaces of pid 1: the tree must share them. */
  initNamespaces: Partial<Record<NamespaceKind, string>>;
}

/**
 * `exclude`: kernel-leap's own foreground process, which leaves the session before
 * the dump (Node holds io_uring fds that CRIU 3.17 cannot dump).
 */
export function collectFacts(proc: ProcSource, rootPid: number, unixPeers: Map<number, number>, exclude: ReadonlySet<number> = new Set()): PlanFacts {
  const pids = listTree(proc, rootPid, exclude);
  const tasks = pids.flatMap((pid): TaskFacts[] => {
    const status = readStatus(proc, pid);
    if (!status) return [];
    return [{
      pid, ppid: status.ppid, name: status.name, cmdline: readCmdline(proc, pid),
      exe: proc.readLink(`/proc/${pid}/exe`), exeStat: proc.stat(`/proc/${pid}/exe`),
      fds: listFds(proc, pid), deletedMaps: deletedMappings(proc, pid), namespaces: readNamespaces(proc, pid),
    }];
  });
  return {
    rootPid,
    tasks,
    treeMountIds: [...mountIds(proc, rootPid)],
    tcp: readTcp(proc, rootPid),
    unix: readUnix(proc, rootPid),
    unixPeers: [...unixPeers],
    lockPids: [...lockHolders(proc)].filter((p) => pids.includes(p)),
    initNamespaces: readNamespaces(proc, 1),
  };
}
