/**
 * After criu's dump: each regular file the tree held that the boot clears
 * (steps/plan/held-files.ts) is copied into `<run>/held-files/<index>`, root's
 * alone, for criu's action script to put back before the restore. The path is a
 * user's to change between the plan and now, so it is opened without following a
 * symlink and copied only if it is still the file the tree held (its device and
 * inode): a path swapped for a link to /etc/shadow, or for another file, is not.
 * Nothing here throws for one file: each gets a result, and the leap goes on.
 */
import {
  closeSync,
  constants,
  fstatSync,
  futimesSync,
  mkdirSync,
  openSync,
  readSync,
  renameSync,
  rmSync,
  type Stats,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';

import {
  type HeldCopy,
  type HeldEntry,
  heldFilesDir,
  type HeldFilesManifest,
  readHeldFiles,
  writeHeldFiles,
} from '../../state/held-files.js';

/** Never through a link, never blocking on a FIFO, never taking a terminal as ours. */
const OPEN_HELD =
  constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY;
const CHUNK_BYTES = 1024 * 1024;

/** Copies the run's held files (its held-files.json, which prepare wrote) and records each result there. */
export function copyHeldFiles(runDir: string): HeldFilesManifest {
  const held = readHeldFiles(runDir);
  if (held.files.length === 0) return held;
  const dir = heldFilesDir(runDir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const done: HeldFilesManifest = {
    schema: 1,
    files: held.files.map((file) => ({ ...file, copy: copyHeldFile(file, dir) })),
  };
  writeHeldFiles(runDir, done);
  return done;
}

/** One file into `dir/<index>`, if the path still opens to the file the tree held. */
export function copyHeldFile(file: HeldEntry, dir: string): HeldCopy {
  // criu carries a FIFO's bytes in its images: the action script makes it again, empty.
  if (file.kind === 'fifo') return { state: 'copied', bytes: 0 };
  let source: number;
  try {
    source = openSync(file.path, OPEN_HELD);
  } catch (error) {
    return notCopied(
      (error as NodeJS.ErrnoException).code === 'ELOOP'
        ? 'the path is a symlink now'
        : `it cannot be opened (${errorText(error)})`,
    );
  }
  try {
    const stat = fstatSync(source);
    if (!stat.isFile()) return notCopied('the path is no regular file now');
    if (stat.dev !== file.dev || stat.ino !== file.ino)
      return notCopied(
        `the path is another file now (device ${stat.dev}, inode ${stat.ino}; the tree held device ${file.dev}, inode ${file.ino})`,
      );
    return { state: 'copied', bytes: copyInto(source, stat, join(dir, String(file.index))) };
  } catch (error) {
    return notCopied(`the copy failed (${errorText(error)})`);
  } finally {
    closeSync(source);
  }
}

/**
 * Written whole under a temporary name, then renamed: a copy that is there is
 * complete. It keeps the file's times, whose mtime the restore gives it back.
 */
function copyInto(source: number, stat: Stats, target: string): number {
  const temp = `${target}.tmp`;
  rmSync(temp, { force: true });
  const out = openSync(temp, 'wx', 0o600);
  let bytes = 0;
  try {
    const buffer = Buffer.alloc(CHUNK_BYTES);
    for (;;) {
      const read = readSync(source, buffer, 0, buffer.length, bytes);
      if (read === 0) break;
      for (let written = 0; written < read;)
        written += writeSync(out, buffer, written, read - written);
      bytes += read;
    }
    futimesSync(out, stat.atime, stat.mtime);
  } catch (error) {
    closeSync(out);
    rmSync(temp, { force: true });
    throw error;
  }
  closeSync(out);
  renameSync(temp, target);
  return bytes;
}

function notCopied(why: string): HeldCopy {
  return { state: 'not-copied', why };
}

function errorText(error: unknown): string {
  return (
    (error as NodeJS.ErrnoException).code ??
    (error instanceof Error ? error.message : String(error))
  );
}
