/**
 * criu's action script at pre-restore, rendered and run for real by dash as root,
 * in a temp tree that stands in for a boot that cleared /tmp: each held file the
 * worker copied comes back as its owner made it (setpriv for uid 65534), with its
 * mode and mtime and the directories down to it; nothing is written through a
 * symlink or into a directory that is not its recorded owner's, and a path criu
 * would open in the file's place aborts the restore (a non-zero exit).
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { renderActionScript } from '../../src/render/artefacts.js';

const NOBODY = 65534;
const octal = (mode: number) => mode.toString(8).padStart(4, '0');

interface Held {
  path: string;
  uid: number;
  gid: number;
  mode: number;
  content?: string;
  mtime?: number;
  fifo?: boolean;
  dirs?: Array<{ path: string; uid: number; gid: number; mode: number }>;
}

/** A bed: `tmp` is what the boot cleared (1777, root's, as /tmp), `run` the run dir with its copies. */
function bed() {
  const base = mkdtempSync(join(tmpdir(), "kl action's $bed-"));
  // Searchable by nobody, as the way down to /tmp is.
  chmodSync(base, 0o755);
  const tmp = join(base, 'tmp');
  mkdirSync(tmp);
  chmodSync(tmp, 0o1777);
  const run = join(base, 'run');
  mkdirSync(join(run, 'held-files'), { recursive: true, mode: 0o700 });
  return { base, tmp, run };
}

/** Copies each file's content as the worker would (`held-files/<index>`), renders the script and runs its pre-restore. */
function preRestore(run: string, root: string, files: Held[]) {
  files.forEach((f, index) => {
    if (f.content === undefined) return;
    const copy = join(run, 'held-files', String(index));
    writeFileSync(copy, f.content, { mode: 0o600 });
    if (f.mtime !== undefined) utimesSync(copy, f.mtime, f.mtime);
  });
  const script = join(run, 'criu-action.sh');
  const log = join(run, 'held-files.log');
  writeFileSync(
    script,
    renderActionScript({
      pidFile: join(run, 'restored-pid'),
      pathsLock: join(run, 'paths.lock'),
      heldDir: join(run, 'held-files'),
      heldLog: log,
      heldFiles: files.map((f, index) => ({
        index,
        path: f.path,
        uid: f.uid,
        gid: f.gid,
        mode: octal(f.mode),
        root,
        dirs: (f.dirs ?? []).map((d) => ({ ...d, mode: octal(d.mode) })),
        fifo: f.fifo === true,
      })),
    }),
    { mode: 0o700 },
  );
  // Under an open umask, as criu may start it: the log must still be root's alone.
  const result = spawnSync('/bin/sh', ['-c', 'umask 022 && exec /bin/sh "$0"', script], {
    encoding: 'utf8',
    env: { ...process.env, CRTOOLS_SCRIPT_ACTION: 'pre-restore' },
  });
  expect(result.stderr).toBe('');
  const lines = existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : [];
  if (lines.length > 0) expect(statSync(log).mode & 0o777).toBe(0o600);
  return { status: result.status, lines };
}

const owner = (path: string) => {
  const s = lstatSync(path);
  return { uid: s.uid, gid: s.gid, mode: s.mode & 0o7777 };
};

describe("criu's action script, before criu restores anything", () => {
  it('puts back each copied file as its owner, with its mode, its mtime and the directories down to it', () => {
    const { tmp, run } = bed();
    const rootFile = join(tmp, "root's held file");
    const build = join(tmp, 'build');
    const obj = join(build, 'obj');
    const nobodyFile = join(obj, 'out.o');
    const { status, lines } = preRestore(run, tmp, [
      { path: rootFile, uid: 0, gid: 0, mode: 0o640, content: 'root data\n', mtime: 1_700_000_000 },
      {
        path: nobodyFile,
        uid: NOBODY,
        gid: NOBODY,
        mode: 0o604,
        content: 'before-the-leap\n',
        mtime: 1_700_000_100,
        dirs: [
          { path: build, uid: NOBODY, gid: NOBODY, mode: 0o755 },
          { path: obj, uid: NOBODY, gid: NOBODY, mode: 0o710 },
        ],
      },
    ]);
    expect(status).toBe(0);
    expect(readFileSync(rootFile, 'utf8')).toBe('root data\n');
    expect(owner(rootFile)).toEqual({ uid: 0, gid: 0, mode: 0o640 });
    expect(statSync(rootFile).mtimeMs).toBe(1_700_000_000_000);
    expect(readFileSync(nobodyFile, 'utf8')).toBe('before-the-leap\n');
    expect(owner(nobodyFile)).toEqual({ uid: NOBODY, gid: NOBODY, mode: 0o604 });
    expect(statSync(nobodyFile).mtimeMs).toBe(1_700_000_100_000);
    expect(owner(build)).toEqual({ uid: NOBODY, gid: NOBODY, mode: 0o755 });
    expect(owner(obj)).toEqual({ uid: NOBODY, gid: NOBODY, mode: 0o710 });
    expect(lines).toEqual([
      'held-files/0: put back: 10 bytes, mode 0640, uid 0',
      'held-files/1: put back: 16 bytes, mode 0604, uid 65534',
    ]);
  });

  it('makes a held FIFO again as its owner, with its mode and its directory; refuses a symlink there', () => {
    const { tmp, run } = bed();
    const dir = join(tmp, 'kl-hostile');
    const fifo = join(dir, 'fifo');
    const fifoNobody = {
      path: fifo,
      uid: NOBODY,
      gid: NOBODY,
      mode: 0o620,
      fifo: true,
      dirs: [{ path: dir, uid: NOBODY, gid: NOBODY, mode: 0o755 }],
    };
    const { status, lines } = preRestore(run, tmp, [fifoNobody]);
    expect(status).toBe(0);
    expect(lstatSync(fifo).isFIFO()).toBe(true);
    expect(owner(fifo)).toEqual({ uid: NOBODY, gid: NOBODY, mode: 0o620 });
    expect(owner(dir)).toEqual({ uid: NOBODY, gid: NOBODY, mode: 0o755 });
    expect(lines).toEqual(['held-files/0: made again: a FIFO, mode 0620, uid 65534']);
    // Again on the same boot: left as it is.
    expect(preRestore(run, tmp, [fifoNobody]).lines.at(-1)).toMatch(/left as it is: a FIFO/);
    // A symlink where the FIFO was: nothing made through it, the restore aborted.
    rmSync(fifo);
    symlinkSync('/etc/kl-nothing-here', fifo);
    const linked = preRestore(run, tmp, [fifoNobody]);
    expect(linked.status).toBe(1);
    expect(linked.lines.at(-1)).toMatch(/symlink/);
    expect(existsSync('/etc/kl-nothing-here')).toBe(false);
  });

  it('follows no symlink planted at the path: its target is untouched, and the restore is aborted', () => {
    const { base, tmp, run } = bed();
    const shadow = join(base, 'shadow');
    writeFileSync(shadow, 'root:secret\n', { mode: 0o600 });
    const path = join(tmp, 'held');
    symlinkSync(shadow, path);
    const dangling = join(tmp, 'dangling');
    symlinkSync(join(base, 'nothing-yet'), dangling);
    const { status, lines } = preRestore(run, tmp, [
      { path, uid: NOBODY, gid: NOBODY, mode: 0o644, content: 'planted over\n' },
      { path: dangling, uid: 0, gid: 0, mode: 0o644, content: 'planted over\n' },
    ]);
    expect(status).toBe(1);
    expect(readFileSync(shadow, 'utf8')).toBe('root:secret\n');
    expect(owner(shadow)).toEqual({ uid: 0, gid: 0, mode: 0o600 });
    expect(lstatSync(path).isSymbolicLink()).toBe(true);
    expect(existsSync(join(base, 'nothing-yet'))).toBe(false);
    expect(lines).toEqual([
      'held-files/0: refused, the restore is aborted: the path is a symlink now, which criu would follow',
      'held-files/1: refused, the restore is aborted: the path is a symlink now, which criu would follow',
    ]);
  });

  it("skips a file whose directory is someone else's now, and aborts only when its path then leads somewhere", () => {
    const { base, tmp, run } = bed();
    // Root made build where nobody's was: nothing of nobody's is written into it.
    const build = join(tmp, 'build');
    mkdirSync(build);
    chmodSync(build, 0o777);
    // A symlink where nobody's directory was, to a directory that holds a file of that name.
    const elsewhere = join(base, 'elsewhere');
    mkdirSync(elsewhere);
    writeFileSync(join(elsewhere, 'out.o'), 'not the tree file\n');
    symlinkSync(elsewhere, join(tmp, 'linked'));
    const dir = (path: string) => ({ path, uid: NOBODY, gid: NOBODY, mode: 0o755 });
    const skipped = preRestore(run, tmp, [
      {
        path: join(build, 'out.o'),
        uid: NOBODY,
        gid: NOBODY,
        mode: 0o644,
        content: 'x\n',
        dirs: [dir(build)],
      },
    ]);
    expect(skipped.status).toBe(0);
    expect(existsSync(join(build, 'out.o'))).toBe(false);
    expect(skipped.lines).toEqual([
      "held-files/0: not put back: directory 1 below the cleared root is uid 0's, not uid 65534's",
    ]);
    const linked = join(tmp, 'linked');
    const aborted = preRestore(run, tmp, [
      {
        path: join(linked, 'out.o'),
        uid: NOBODY,
        gid: NOBODY,
        mode: 0o644,
        content: 'x\n',
        dirs: [dir(linked)],
      },
    ]);
    expect(aborted.status).toBe(1);
    expect(readFileSync(join(elsewhere, 'out.o'), 'utf8')).toBe('not the tree file\n');
    expect(aborted.lines.at(-1)).toBe(
      'held-files/0: refused, the restore is aborted: its path leads through a directory that is not as it was',
    );
  });

  it("makes root's own file only where no one else can change the way to it", () => {
    const { tmp, run } = bed();
    // Root's, but open to all, or to its group, without the sticky bit: they could swap what is in it.
    const open = join(tmp, 'open');
    const group = join(tmp, 'group');
    const shut = join(tmp, 'shut');
    const dirs = (path: string, mode: number) => [{ path, uid: 0, gid: 0, mode }];
    const { status, lines } = preRestore(run, tmp, [
      { path: join(open, 'x'), uid: 0, gid: 0, mode: 0o600, content: 'x', dirs: dirs(open, 0o777) },
      {
        path: join(group, 'x'),
        uid: 0,
        gid: 0,
        mode: 0o600,
        content: 'x',
        dirs: dirs(group, 0o775),
      },
      { path: join(shut, 'x'), uid: 0, gid: 0, mode: 0o600, content: 'x', dirs: dirs(shut, 0o755) },
    ]);
    expect(status).toBe(0);
    expect(existsSync(join(open, 'x'))).toBe(false);
    expect(existsSync(join(group, 'x'))).toBe(false);
    expect(readFileSync(join(shut, 'x'), 'utf8')).toBe('x');
    expect(lines).toEqual([
      "held-files/0: not put back: root's file, and others can change directory 1 below the cleared root",
      "held-files/1: not put back: root's file, and others can change directory 1 below the cleared root",
      'held-files/2: put back: 1 bytes, mode 0600, uid 0',
    ]);
  });

  it('leaves a file of its owner that is still there (a restore by hand on the same boot), and refuses one of another', () => {
    const { tmp, run } = bed();
    const mine = join(tmp, 'mine');
    writeFileSync(mine, 'still here\n');
    chownSync(mine, NOBODY, NOBODY);
    const theirs = join(tmp, 'theirs');
    writeFileSync(theirs, 'root put this here\n');
    const { status, lines } = preRestore(run, tmp, [
      { path: mine, uid: NOBODY, gid: NOBODY, mode: 0o644, content: 'the copy\n' },
      { path: theirs, uid: NOBODY, gid: NOBODY, mode: 0o644, content: 'the copy\n' },
    ]);
    expect(status).toBe(1);
    expect(readFileSync(mine, 'utf8')).toBe('still here\n');
    expect(readFileSync(theirs, 'utf8')).toBe('root put this here\n');
    expect(lines).toEqual([
      'held-files/0: left as it is: a file of uid 65534 is there (a restore on the same boot)',
      'held-files/1: refused, the restore is aborted: the path holds something else than a file of uid 65534',
    ]);
  });

  it('notes a file that was never copied, or whose cleared root is not there, and lets criu say the rest', () => {
    const { base, tmp, run } = bed();
    const { status, lines } = preRestore(run, tmp, [
      { path: join(tmp, 'not-copied'), uid: 0, gid: 0, mode: 0o644 },
    ]);
    expect(status).toBe(0);
    expect(lines).toEqual([
      "held-files/0: not put back: it was not copied after the dump (the run's journal says why)",
    ]);
    const gone = preRestore(run, join(base, 'run-user-1000'), [
      { path: join(base, 'run-user-1000', 'x'), uid: 0, gid: 0, mode: 0o644, content: 'x' },
    ]);
    expect(gone.status).toBe(0);
    expect(gone.lines.at(-1)).toBe(
      'held-files/0: not put back: what the boot clears (a mount point, a tmpfiles directory) is not there',
    );
  });

  it('puts back files only once no restore beside it makes paths: one another tree holds too comes back whole', async () => {
    const { tmp, run } = bed();
    const lock = join(run, 'paths.lock');
    const released = join(run, 'released');
    // Another restore making its paths: it lets go half a second on, and notes when.
    const holder = spawn(
      'flock',
      ['-o', lock, 'sh', '-c', 'sleep 0.5; date +%s%3N > "$0"', released],
      { stdio: 'ignore' },
    );
    const done = new Promise((r) => holder.once('exit', r));
    while (spawnSync('flock', ['-n', lock, 'true']).status === 0)
      await new Promise((r) => setTimeout(r, 20));
    const path = join(tmp, 'build.log');
    const { status, lines } = preRestore(run, tmp, [
      { path, uid: NOBODY, gid: NOBODY, mode: 0o644, content: 'whole\n' },
    ]);
    await done;
    expect(status).toBe(0);
    expect(lines).toEqual(['held-files/0: put back: 6 bytes, mode 0644, uid 65534']);
    expect(statSync(path).ctimeMs).toBeGreaterThanOrEqual(Number(readFileSync(released, 'utf8')));
  });

  it('does nothing at pre-restore for a tree that held none, and nothing else at any other stage', () => {
    const { tmp, run } = bed();
    expect(preRestore(run, tmp, [])).toEqual({ status: 0, lines: [] });
    const script = join(run, 'criu-action.sh');
    const other = spawnSync('/bin/sh', [script], {
      encoding: 'utf8',
      env: { ...process.env, CRTOOLS_SCRIPT_ACTION: 'post-restore' },
    });
    expect(other.status).toBe(0);
    expect(existsSync(join(run, 'restored-pid'))).toBe(false);
  });
});
