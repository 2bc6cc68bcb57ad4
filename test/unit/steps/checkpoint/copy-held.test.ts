/**
 * The copy after the dump, on real files in a temp dir: only the file the tree
 * held (its device and inode), opened without following a link, into
 * `<run>/held-files/<index>`, root's alone, with its times; every other case a
 * result that names why, never an exception.
 */
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import {
  type HeldEntry,
  plannedHeldFiles,
  readHeldFiles,
  writeHeldFiles,
} from '../../../../src/state/held-files.js';
import { removeImages } from '../../../../src/state/runs.js';
import { copyHeldFile, copyHeldFiles } from '../../../../src/steps/checkpoint/copy-held.js';

/** A file as the plan found it held: its path, device and inode. */
function held(path: string, index = 0): HeldEntry {
  const stat = statSync(path);
  return {
    index,
    path,
    dev: stat.dev,
    ino: stat.ino,
    size: stat.size,
    uid: stat.uid,
    gid: stat.gid,
    mode: stat.mode & 0o7777,
    root: join(path, '..'),
    dirs: [],
  };
}

function bed() {
  const dir = mkdtempSync(join(tmpdir(), 'kl-copy-'));
  const copies = join(dir, 'copies');
  mkdirSync(copies);
  return { dir, copies };
}

describe('the copy of a held file', () => {
  it('is its bytes, 0600 and with its mtime, once the path still opens to the same file', () => {
    const { dir, copies } = bed();
    const path = join(dir, 'held');
    writeFileSync(path, 'before-the-leap\n', { mode: 0o644 });
    utimesSync(path, 1_700_000_000, 1_700_000_000.5);
    expect(copyHeldFile(held(path), copies)).toEqual({ state: 'copied', bytes: 16 });
    const copy = join(copies, '0');
    expect(readFileSync(copy, 'utf8')).toBe('before-the-leap\n');
    expect(statSync(copy).mode & 0o7777).toBe(0o600);
    expect(statSync(copy).mtimeMs).toBe(1_700_000_000_500);
    expect(existsSync(`${copy}.tmp`)).toBe(false);
  });

  it("is refused when the path is another file now (its device or inode not the tree's)", () => {
    const { dir, copies } = bed();
    const path = join(dir, 'held');
    writeFileSync(path, 'the tree held this\n');
    const planned = held(path);
    writeFileSync(join(dir, 'other'), 'someone else put this here\n');
    renameSync(join(dir, 'other'), path);
    const result = copyHeldFile(planned, copies);
    expect(result.state).toBe('not-copied');
    expect(result).toMatchObject({
      why: expect.stringMatching(
        /^the path is another file now \(device \d+, inode \d+; the tree held device \d+, inode \d+\)$/,
      ),
    });
    expect(existsSync(join(copies, '0'))).toBe(false);
  });

  it('never follows a symlink put at the path, even to the very file the tree held', () => {
    const { dir, copies } = bed();
    const secret = join(dir, 'shadow');
    writeFileSync(secret, 'root:secret\n', { mode: 0o600 });
    const path = join(dir, 'held');
    symlinkSync(secret, path);
    // The link resolves to the device and inode recorded: still not opened.
    expect(copyHeldFile({ ...held(secret), path }, copies)).toEqual({
      state: 'not-copied',
      why: 'the path is a symlink now',
    });
    expect(existsSync(join(copies, '0'))).toBe(false);
  });

  it('opens nothing that blocks or is not a regular file: a FIFO at the path, or the path gone', () => {
    const { dir, copies } = bed();
    const path = join(dir, 'held');
    writeFileSync(path, 'x');
    const planned = held(path);
    spawnSync('sh', ['-c', `rm "$0" && mkfifo "$0"`, path]);
    expect(copyHeldFile(planned, copies)).toEqual({
      state: 'not-copied',
      why: 'the path is no regular file now',
    });
    expect(copyHeldFile({ ...planned, path: join(dir, 'gone') }, copies)).toEqual({
      state: 'not-copied',
      why: 'it cannot be opened (ENOENT)',
    });
  });
});

describe("a run's held files", () => {
  it('are copied into <run>/held-files (0700), each result in held-files.json, and go with the images', () => {
    const { dir } = bed();
    const run = join(dir, 'runs', 'r1');
    mkdirSync(run, { recursive: true, mode: 0o700 });
    const a = join(dir, 'a');
    const b = join(dir, 'b');
    writeFileSync(a, 'aaaa');
    writeFileSync(b, 'bb');
    writeHeldFiles(run, plannedHeldFiles([held(a), held(b)]));
    // Between the plan and the copy, a's path came to name another file.
    renameSync(a, join(dir, 'a-moved'));
    writeFileSync(a, 'a new file at the path');
    const done = copyHeldFiles(run);
    expect(done.files.map((f) => f.copy)).toEqual([
      { state: 'not-copied', why: expect.stringMatching(/^the path is another file now/) },
      { state: 'copied', bytes: 2 },
    ]);
    expect(readHeldFiles(run)).toEqual(done);
    expect(statSync(join(run, 'held-files')).mode & 0o777).toBe(0o700);
    expect(readFileSync(join(run, 'held-files', '1'), 'utf8')).toBe('bb');
    expect(existsSync(join(run, 'held-files', '0'))).toBe(false);
    // Where the images go (prune, or a restored run's logs shipped), the copies go.
    expect(removeImages(dir, 'r1')).toBe(2);
    expect(existsSync(join(run, 'held-files'))).toBe(false);
    expect(existsSync(join(run, 'held-files.json'))).toBe(true);
  });

  it('are none to copy for a run that held none', () => {
    const { dir } = bed();
    expect(copyHeldFiles(dir)).toEqual({ schema: 1, files: [] });
    expect(existsSync(join(dir, 'held-files'))).toBe(false);
  });
});
