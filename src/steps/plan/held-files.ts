/**
 * The regular files and FIFOs a tree holds open that the next boot does not keep.
 * criu records a held file by its path (and a file's size) and opens that path at restore: a path
 * the boot cleared fails the restore ("Can't open file ... on restore"), and the
 * whole tree stays in its images. Debian 12 empties /tmp at boot (tmpfiles'
 * `D /tmp`), Debian 13 mounts a fresh tmpfs there, and /run, /dev/shm and
 * /run/user/N are tmpfs everywhere. Such files are copied after the dump and put
 * back before the restore (state/held-files.ts).
 */
import type { HeldDir, HeldFile } from '../../state/held-files.js';
import { printable } from '../../tools/printable.js';
import {
  type FdFacts,
  type Mount,
  type NamespaceKind,
  readMounts,
} from '../../tools/proc-tasks.js';
import type { ProcSource } from '../../tools/procfs.js';
import type { BootClearedDirs } from '../../tools/tmpfiles.js';
import type { Risk } from './classify.js';

/** What a boot starts empty: a fresh mount of each at every boot. */
const VOLATILE_FILESYSTEMS = new Set(['tmpfs', 'ramfs']);
const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFIFO = 0o010000;
/** How many paths the plan's line names before it counts the rest. */
const NAMED_PATHS = 3;

/** A held file that is not copied, and why: the restore of its tree fails unless the file is there again. */
export interface HeldNotCarried {
  pid: number;
  name: string;
  fd: number;
  path: string;
  why: string;
}

export interface HeldFiles {
  /** One per path, in the order the tree's fds name them. */
  files: HeldFile[];
  notCarried: HeldNotCarried[];
  /** Why systemd-tmpfiles did not say what the boot clears; then only tmpfs and ramfs count. */
  tmpfilesUnknown?: string | undefined;
}

/** Free space where the copies go: the state dir's filesystem. */
export interface CopyRoom {
  path: string;
  bytes: number;
}

/** What heldFilesOf reads of a task. */
export interface HeldFileTask {
  pid: number;
  name: string;
  fds: readonly FdFacts[];
  namespaces: Partial<Record<NamespaceKind, string>>;
}

/**
 * What the boot clears that holds `path`: the mount point of a tmpfs or ramfs
 * (someone mounts it again at boot, so nothing is made above it), else the
 * outermost directory tmpfiles empties or removes (what it makes again inside,
 * as /tmp/.X11-unix, is then one more directory of the chain, checked as any
 * other). Undefined when the boot keeps the file.
 */
export function clearedRoot(
  path: string,
  mount: Mount | undefined,
  clearedDirs: readonly string[],
): string | undefined {
  if (mount && VOLATILE_FILESYSTEMS.has(mount.fsType)) return mount.mountPoint;
  return clearedDirs
    .filter((dir) => dir !== '/' && path.startsWith(`${dir}/`))
    .sort((a, b) => a.length - b.length)[0];
}

/** The directories strictly between `root` and the file at `path`, outermost first. */
export function dirsBetween(root: string, path: string): string[] {
  const below = path.slice(root === '/' ? 1 : root.length + 1).split('/');
  return below
    .slice(0, -1)
    .map((_, i) => `${root === '/' ? '' : root}/${below.slice(0, i + 1).join('/')}`);
}

/**
 * The files `tasks` hold that the boot clears. Only the root mount namespace's: a
 * path in another (a session an earlier leap restored) names its own mounts, and
 * the copy and the restore see the host's.
 */
export function heldFilesOf(
  proc: ProcSource,
  tasks: readonly HeldFileTask[],
  cleared: BootClearedDirs,
): HeldFiles {
  const rootMountNs = proc.readLink('/proc/1/ns/mnt');
  const out: HeldFiles = { files: [], notCarried: [], tmpfilesUnknown: cleared.why };
  const seen = new Set<string>();
  for (const { task, fd, mount } of heldRegularFiles(proc, tasks, isHeldFileOrFifo)) {
    if (seen.has(fd.target)) continue;
    const root = clearedRoot(fd.target, mount, cleared.dirs);
    if (root === undefined) continue;
    seen.add(fd.target);
    const why = notCarriedWhy(proc, task, fd.target, root, rootMountNs);
    if (typeof why === 'string')
      out.notCarried.push({ pid: task.pid, name: task.name, fd: fd.fd, path: fd.target, why });
    else out.files.push(heldFile(fd, root, why));
  }
  return out;
}

/** Each regular file a task holds at a path, with the mount it is on (the task's mountinfo, read once a task). */
export function* heldRegularFiles<T extends { pid: number; fds: readonly FdFacts[] }>(
  proc: ProcSource,
  tasks: readonly T[],
  held: (fd: FdFacts) => boolean = isHeldRegularFile,
): Generator<{ task: T; fd: FdFacts; mount: Mount | undefined }> {
  for (const task of tasks) {
    let mounts: Mount[] | undefined;
    for (const fd of task.fds) {
      if (!held(fd)) continue;
      mounts ??= readMounts(proc, task.pid);
      yield { task, fd, mount: mounts.find((m) => m.id === fd.mntId) };
    }
  }
}

/** A path to a regular file with its device known; a deleted one criu carries itself, as a ghost file. */
export function isHeldRegularFile(fd: FdFacts): boolean {
  return isHeldPath(fd) && ((fd.stat?.mode ?? 0) & S_IFMT) === S_IFREG;
}

/** As isHeldRegularFile, or a FIFO at a path: criu opens it again by that path too. */
function isHeldFileOrFifo(fd: FdFacts): boolean {
  return isHeldRegularFile(fd) || (isHeldPath(fd) && ((fd.stat?.mode ?? 0) & S_IFMT) === S_IFIFO);
}

function isHeldPath(fd: FdFacts): boolean {
  return (
    fd.target.startsWith('/') && !fd.target.endsWith(' (deleted)') && fd.stat?.dev !== undefined
  );
}

/** Why the file cannot be carried, or else its directories below the cleared root. */
function notCarriedWhy(
  proc: ProcSource,
  task: HeldFileTask,
  path: string,
  root: string,
  rootMountNs: string | undefined,
): string | HeldDir[] {
  if (rootMountNs !== undefined && task.namespaces.mnt !== rootMountNs)
    return `in mount namespace ${task.namespaces.mnt ?? '?'}, not the host's`;
  // criu's action script is sh, and a path goes into it on one line.
  if (/[\r\n]/.test(path)) return 'its path holds a line break';
  const dirs: HeldDir[] = [];
  for (const dir of dirsBetween(root, path)) {
    const stat = proc.stat(dir);
    if (!stat) return `${dir} could not be read`;
    dirs.push({ path: dir, uid: stat.uid, gid: stat.gid, mode: stat.mode & 0o7777 });
  }
  return dirs;
}

function heldFile(fd: FdFacts, root: string, dirs: HeldDir[]): HeldFile {
  const stat = fd.stat as NonNullable<FdFacts['stat']>;
  const fifo = (stat.mode & S_IFMT) === S_IFIFO;
  return {
    path: fd.target,
    ...(fifo ? { kind: 'fifo' as const } : {}),
    dev: stat.dev as number,
    ino: stat.ino,
    size: fifo ? 0 : stat.size,
    uid: stat.uid,
    gid: stat.gid,
    mode: stat.mode & 0o7777,
    root,
    dirs,
  };
}

/** The plan's lines: one for the files carried, a no-go when their copies would not fit, a warning for each not carried. */
export function heldFileRisks(held: HeldFiles, room: CopyRoom | undefined): Risk[] {
  const risks: Risk[] = [];
  const total = held.files.reduce((sum, f) => sum + f.size, 0);
  if (held.files.length > 0)
    risks.push({
      level: 'ok',
      code: 'HELD_FILES',
      message: `${held.files.length} held ${held.files.length === 1 ? 'file' : 'files'} the boot clears (${namePaths(held.files)}; ${total} bytes): copied into the run after the dump, put back before the restore`,
    });
  if (room !== undefined && total > room.bytes)
    risks.push({
      level: 'fail',
      code: 'HELD_FILES_TOO_LARGE',
      message: `the held files the boot clears take ${total} bytes, more than the ${room.bytes} bytes free at ${printable(room.path)} where their copies go`,
      hint: 'close the largest of them, or free space in the state dir ([paths] state_dir), before the upgrade',
    });
  for (const n of held.notCarried)
    risks.push({
      level: 'warn',
      code: 'HELD_FILE_NOT_CARRIED',
      message: `${printable(n.name)} (${n.pid}) fd ${n.fd} holds ${printable(n.path)}, which the boot clears, ${printable(n.why)}: not copied, so its tree's restore fails unless the file is there again`,
      hint: `close it, or end ${printable(n.name)} (${n.pid}), before the upgrade`,
    });
  if (held.tmpfilesUnknown !== undefined)
    risks.push({
      level: 'warn',
      code: 'TMPFILES_UNKNOWN',
      message: `systemd-tmpfiles did not say which directories the boot empties (${printable(held.tmpfilesUnknown)}): only held files on tmpfs and ramfs are copied`,
      hint: 'a file the session holds in /tmp on a disk may be lost at the restore; close it before the upgrade',
    });
  return risks;
}

function namePaths(files: readonly HeldFile[]): string {
  const named = files.slice(0, NAMED_PATHS).map((f) => printable(f.path));
  const more = files.length - named.length;
  return more > 0 ? `${named.join(', ')} and ${more} more` : named.join(', ');
}
