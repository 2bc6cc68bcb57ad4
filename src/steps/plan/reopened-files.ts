/**
 * The regular files criu opens again by path at restore, for a tree of a user
 * other than root. criu restores as root, opens each file a process held by the
 * path the dump recorded, following symlinks, and checks only its size and mode
 * (criu/files-reg.c). Between the dump and the restore the user can make that
 * path reach a file of root's of the same size and mode (a symlink, a rename),
 * and their restored process would then hold it. So the restore script checks
 * each one first (templates/restore-tree.sh.hbs, same_file; docs/trust.md).
 */
import type { ReopenedFile } from '../../state/manifest.js';
import type { FdFacts, Mount } from '../../tools/proc-tasks.js';
import type { ProcSource } from '../../tools/procfs.js';
import { heldRegularFiles } from './held-files.js';

/**
 * The kernel's own files, which it numbers anew at each boot: no user makes or
 * renames a file there, so only the walk to them is checked, not their inode.
 */
const KERNEL_FILESYSTEMS = new Set([
  'proc',
  'sysfs',
  'cgroup',
  'cgroup2',
  'debugfs',
  'tracefs',
  'securityfs',
  'configfs',
  'efivarfs',
  'pstore',
  'bpf',
]);

/** What reopenedFilesOf reads of a task. */
export interface ReopenedFileTask {
  pid: number;
  /** The real uid; undefined (a recording made before it was kept) counts as a user's. */
  uid?: number | undefined;
  fds: readonly FdFacts[];
}

/**
 * The regular files each fd of `tasks` holds at a path (a deleted one criu
 * carries in its images, as a ghost file), once each, when any task of the
 * tree is not root's (a tree of root's alone holds nothing a user could have
 * made it hold). `carried`: the paths whose files the boot clears and their owner
 * makes again (held-files.ts), which cannot be the files of the dump.
 */
export function reopenedFilesOf(
  proc: ProcSource,
  tasks: readonly ReopenedFileTask[],
  carried: ReadonlySet<string>,
): ReopenedFile[] {
  if (tasks.every((t) => t.uid === 0)) return [];
  const out: ReopenedFile[] = [];
  const seen = new Set<string>();
  for (const { fd, mount } of heldRegularFiles(proc, tasks)) {
    if (carried.has(fd.target)) continue;
    const file = reopenedFile(fd, mount);
    const key = `${file.path}\0${file.dev ?? ''}\0${file.ino ?? ''}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(file);
  }
  return out;
}

/**
 * Its device and inode as the kernel reports them for the open file (a stat of
 * /proc/PID/fd/N, not of the path). The device only where a boot keeps its number:
 * a block device's (major not 0). Others are numbered as they are mounted (tmpfs,
 * overlay, btrfs subvolumes, NFS, FUSE) and may differ after the kexec; there the
 * inode alone must match.
 */
function reopenedFile(fd: FdFacts, mount: Mount | undefined): ReopenedFile {
  const stat = fd.stat as NonNullable<FdFacts['stat']>;
  if (mount && KERNEL_FILESYSTEMS.has(mount.fsType)) return { path: fd.target };
  const dev = majorOf(stat.dev as number) !== 0 ? stat.dev : undefined;
  return { path: fd.target, dev, ino: stat.ino };
}

/** glibc's gnu_dev_major of a dev_t, as Node's stat reports it (a number past 2^32 when major > 4095). */
export function majorOf(dev: number): number {
  return ((dev >>> 8) & 0xfff) | (Math.floor(dev / 2 ** 32) & ~0xfff);
}
