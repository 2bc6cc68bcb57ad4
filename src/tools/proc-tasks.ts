/** Per-process facts read through a ProcSource: status, tree, fds, maps, namespaces, mounts. */
import type { ProcSource, StatFacts } from './procfs.js';

export interface TaskStatus {
  pid: number;
  name: string;
  ppid: number;
  state: string;
  /** NSpid: this pid in each pid namespace, outermost first; the last is its pid where it lives. */
  nsPids: number[];
  /** NSsid's last value: the session id where the task lives; undefined on a status without it. */
  sid: number | undefined;
  /** The real uid (`Uid:`'s first field): who the process is, whatever its title says; undefined on a status without it. */
  uid: number | undefined;
}

export function readStatus(proc: ProcSource, pid: number): TaskStatus | undefined {
  const text = proc.readText(`/proc/${pid}/status`);
  if (!text) return undefined;
  const field = (name: string) =>
    new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(text)?.[1]?.trim() ?? '';
  const nsPids = field('NSpid').split(/\s+/).filter(Boolean).map(Number);
  const sid = field('NSsid').split(/\s+/).filter(Boolean).map(Number).at(-1);
  const uid = field('Uid').split(/\s+/).filter(Boolean).map(Number)[0];
  return {
    pid,
    name: field('Name'),
    ppid: Number(field('PPid')),
    state: field('State').charAt(0),
    nsPids: nsPids.length > 0 ? nsPids : [pid],
    sid,
    uid,
  };
}

/**
 * What criu writes of these tasks, near enough: their anonymous and shared
 * resident memory, as the kernel counts it (`RssAnon:` and `RssShmem:` of status,
 * in kB). Memory two tasks share is counted twice: a bound may be generous.
 */
export function residentBytes(proc: ProcSource, pids: readonly number[]): number {
  let kib = 0;
  for (const pid of pids) {
    const text = proc.readText(`/proc/${pid}/status`) ?? '';
    for (const name of ['RssAnon', 'RssShmem'])
      kib += Number(new RegExp(`^${name}:\\s*(\\d+) kB$`, 'm').exec(text)?.[1] ?? 0);
  }
  return kib * 1024;
}

/** Running or stopped; a zombie has ended too: only its exit status is left. */
export function isAlive(proc: ProcSource, pid: number): boolean {
  const state = readStatus(proc, pid)?.state;
  return state !== undefined && state !== 'Z';
}

export function readCmdline(proc: ProcSource, pid: number): string {
  return (proc.readText(`/proc/${pid}/cmdline`) ?? '').split('\0').filter(Boolean).join(' ');
}

/** The binary the process runs, as the kernel names it (` (deleted)` appended once the file is replaced). */
export function readExe(proc: ProcSource, pid: number): string | undefined {
  return proc.readLink(`/proc/${pid}/exe`);
}

/** The process's cgroup on the unified hierarchy (`/user.slice/user-0.slice/session-3.scope`). */
export function cgroupOf(proc: ProcSource, pid: number): string | undefined {
  return proc.readText(`/proc/${pid}/cgroup`)?.match(/^0::(\S+)$/m)?.[1];
}

export function listPids(proc: ProcSource): number[] {
  return proc
    .listDir('/proc')
    .filter((n) => /^\d+$/.test(n))
    .map(Number);
}

/**
 * The pid this /proc gives the task that is `pid` in pid namespace `pidNs`
 * ("pid:[INODE]"): a foreground inside a restored session sees its own numbers.
 */
export function pidFromNamespace(proc: ProcSource, pidNs: string, pid: number): number | undefined {
  if (proc.readLink('/proc/self/ns/pid') === pidNs) return pid;
  return listPids(proc).find(
    (p) =>
      proc.readLink(`/proc/${p}/ns/pid`) === pidNs && readStatus(proc, p)?.nsPids.at(-1) === pid,
  );
}

export function childrenOf(proc: ProcSource, pid: number): number[] {
  return proc
    .listDir(`/proc/${pid}/task`)
    .flatMap((tid) =>
      (proc.readText(`/proc/${pid}/task/${tid}/children`) ?? '')
        .trim()
        .split(/\s+/)
        .filter(Boolean)
        .map(Number),
    );
}

export interface FdFacts {
  fd: number;
  target: string;
  mntId: number | undefined;
  flags: number | undefined;
  ttyIndex: number | undefined;
  stat: StatFacts | undefined;
}

export function listFds(proc: ProcSource, pid: number): FdFacts[] {
  return proc
    .listDir(`/proc/${pid}/fd`)
    .map(Number)
    .sort((a, b) => a - b)
    .flatMap((fd) => {
      const target = proc.readLink(`/proc/${pid}/fd/${fd}`);
      if (target === undefined) return [];
      const info = proc.readText(`/proc/${pid}/fdinfo/${fd}`) ?? '';
      const num = (name: string, radix = 10) => {
        const raw = new RegExp(`^${name}:\\s*(\\S+)`, 'm').exec(info)?.[1];
        return raw === undefined ? undefined : parseInt(raw, radix);
      };
      return [
        {
          fd,
          target,
          mntId: num('mnt_id'),
          flags: num('flags', 8),
          ttyIndex: num('tty-index'),
          stat: proc.stat(`/proc/${pid}/fd/${fd}`),
        },
      ];
    });
}

export interface Mapping {
  path: string;
  range: string;
  stat: StatFacts | undefined;
}

/** File mappings whose file is deleted (a binary or library replaced by a package upgrade). */
export function deletedMappings(proc: ProcSource, pid: number): Mapping[] {
  const seen = new Set<string>();
  const out: Mapping[] = [];
  for (const line of (proc.readText(`/proc/${pid}/maps`) ?? '').split('\n')) {
    const match = /^(\S+)\s+\S+\s+\S+\s+\S+\s+\d+\s+(\/.*) \(deleted\)$/.exec(line);
    if (!match?.[1] || !match[2] || seen.has(match[2])) continue;
    seen.add(match[2]);
    out.push({
      path: match[2],
      range: match[1],
      stat: proc.stat(`/proc/${pid}/map_files/${match[1]}`),
    });
  }
  return out;
}

export const NAMESPACES = ['mnt', 'pid', 'net', 'ipc', 'uts', 'user'] as const;
export type NamespaceKind = (typeof NAMESPACES)[number];

export function readNamespaces(
  proc: ProcSource,
  pid: number,
): Partial<Record<NamespaceKind, string>> {
  const found: Partial<Record<NamespaceKind, string>> = {};
  for (const ns of NAMESPACES) {
    const link = proc.readLink(`/proc/${pid}/ns/${ns}`);
    if (link !== undefined) found[ns] = link;
  }
  return found;
}

export interface Mount {
  id: number;
  mountPoint: string;
  fsType: string;
}

/** `/proc/PID/mountinfo`: each mount's id, where it is mounted (octal escapes undone) and its filesystem type. */
export function parseMountinfo(text: string): Mount[] {
  return text.split('\n').flatMap((line) => {
    const fields = line.split(' ');
    const dash = fields.indexOf('-');
    const id = Number(fields[0]);
    const mountPoint = fields[4];
    const fsType = fields[dash + 1];
    if (dash < 6 || !Number.isInteger(id) || mountPoint === undefined || fsType === undefined)
      return [];
    return [{ id, mountPoint: unescapeMountField(mountPoint), fsType }];
  });
}

function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) =>
    String.fromCharCode(parseInt(octal, 8)),
  );
}

/** The mounts the process sees; none once it is gone. */
export function readMounts(proc: ProcSource, pid: number): Mount[] {
  return parseMountinfo(proc.readText(`/proc/${pid}/mountinfo`) ?? '');
}

/** Pids holding a POSIX or flock lock (/proc/locks column 5). */
export function lockHolders(proc: ProcSource): Set<number> {
  return new Set(
    (proc.readText('/proc/locks') ?? '')
      .split('\n')
      .filter(Boolean)
      .map((l) => Number(l.trim().split(/\s+/)[4])),
  );
}
