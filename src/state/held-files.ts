/**
 * The regular files and FIFOs a carried tree holds open whose content the next boot does
 * not keep (a tmpfs, or a directory systemd-tmpfiles empties at boot), and what
 * became of each copy. criu reopens a held file by its path at restore and fails
 * on ENOENT, so the worker copies each one into `<run>/held-files/<index>` after
 * the dump, and criu's action script (templates/criu-action.sh.hbs) puts it back
 * before the restore. `<run>/held-files.json`: written at prepare with what the
 * plan found, and again after the copy with each file's result.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import * as z from 'zod/mini';

import { LeapError } from '../errors.js';
import { jsonText } from '../tools/printable.js';
import { writeFileAtomic } from './atomic.js';
import { parseJsonWith } from './json-schema.js';

export const HELD_FILES_DIR = 'held-files';
const MANIFEST_FILE = 'held-files.json';
/** What criu's action script did with each file at the restore, a line each. */
export const HELD_FILES_LOG = 'held-files.log';

const count = z.number();
const owned = { uid: count, gid: count, /** Permission bits only (mode & 07777). */ mode: count };

/** A directory between the cleared root and the file, made again (as its owner) if the boot removed it. */
const heldDir = z.object({ path: z.string(), ...owned });

const heldFile = z.object({
  path: z.string(),
  /**
   * A regular file, copied after the dump; or a FIFO, made again empty (criu
   * carries the bytes in its pipe), with nothing to copy. Absent: a file.
   */
  kind: z.optional(z.enum(['file', 'fifo'])),
  /** The kernel's device and inode of the file the tree holds: the copy refuses any other. */
  dev: count,
  ino: count,
  /** Its size when planned; the copy's own is what the restore checks. */
  size: count,
  ...owned,
  /** What the boot clears: a tmpfs or ramfs mount point, or a tmpfiles D or R path. It must be there at restore. */
  root: z.string(),
  /** The directories from below `root` down to the file's own, outermost first. */
  dirs: z.array(heldDir),
});

const copyResult = z.union([
  z.object({ state: z.literal('copied'), bytes: count }),
  z.object({ state: z.literal('not-copied'), why: z.string() }),
]);

const heldEntry = z.extend(heldFile, {
  /** Its copy is `<run>/held-files/<index>`. */
  index: count,
  /** Absent until the worker tried the copy, after criu's dump. */
  copy: z.optional(copyResult),
});

const manifest = z.object({ schema: z.literal(1), files: z.array(heldEntry) });

export type HeldDir = z.output<typeof heldDir>;
export type HeldFile = z.output<typeof heldFile>;
export type HeldEntry = z.output<typeof heldEntry>;
export type HeldCopy = z.output<typeof copyResult>;
export type HeldFilesManifest = z.output<typeof manifest>;

export function heldFilesDir(runDir: string): string {
  return join(runDir, HELD_FILES_DIR);
}

/** Each file with its index, nothing copied yet: what prepare writes for the copy after the dump. */
export function plannedHeldFiles(files: readonly HeldFile[]): HeldFilesManifest {
  return { schema: 1, files: files.map((file, index) => ({ ...file, index })) };
}

export function writeHeldFiles(runDir: string, held: HeldFilesManifest): void {
  writeFileAtomic(join(runDir, MANIFEST_FILE), `${jsonText(held, 2)}\n`);
}

/** The run's held files; none for a run prepared before they were kept, or whose tree held none. */
export function readHeldFiles(runDir: string): HeldFilesManifest {
  const path = join(runDir, MANIFEST_FILE);
  if (!existsSync(path)) return { schema: 1, files: [] };
  return parseJsonWith(readFileSync(path, 'utf8'), manifest, (why, cause) =>
    invalid(path, why, cause),
  );
}

function invalid(path: string, why: string, cause?: unknown): LeapError {
  return new LeapError('HELD_FILES_INVALID', `the list of held files ${path} ${why}`, {
    hint: 'prepare writes it before the dump and the worker after it; without it the files the boot cleared are not put back, and the restore fails on them',
    cause,
  });
}
