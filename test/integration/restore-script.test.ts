/**
 * The restore script (templates/restore-tree.sh.hbs), run for real by dash as root
 * in a scratch tree, with nobody (uid 65534) as the user whose FIFOs and socket
 * directories it makes: root never follows a path a user could have changed. A
 * user's entry is made as that user (setpriv), so a symlink of theirs gets them
 * nothing; root's own is made only under directories no user can change, never
 * through a symlink of a user's; an entry that is not what the dump left is not
 * touched. Each refusal gives up before criu's launch, and the record names the
 * entry by its index and says why. A file a user's tree holds by path, which criu
 * opens again as root, is checked: reached through no symlink but root's own, and
 * the dump's file (device and inode), or the tree is not restored and nothing is
 * touched. Its gates give up with their own mark.
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  lchownSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import {
  type OwnedPath,
  renderRestoreScript,
  type RestoreScriptContext,
} from '../../src/render/artefacts.js';
import type { ReopenedFile } from '../../src/state/manifest.js';
import { parseRestoreRecord } from '../../src/state/restore-record.js';
import { requireCommand, requireRoot } from '../helpers/require.js';

const NOBODY = 65534;
const BOOT_ID = '6f1c2d3e-0000-4000-8000-0000000000aa';

/** A scratch host searchable by nobody (as / is), with a stand-in launch that restores at once. */
function scratch() {
  requireRoot();
  requireCommand('setpriv', 'util-linux');
  const root = mkdtempSync(join(tmpdir(), 'kl-script-'));
  chmodSync(root, 0o755);
  const run = join(root, 'run');
  mkdirSync(run, { mode: 0o700 });
  mkdirSync(join(root, 'proc/sys/net/ipv4'), { recursive: true });
  writeFileSync(join(root, 'proc/sys/net/ipv4/tcp_window_scaling'), '1\n');
  writeFileSync(join(root, 'cmdline'), 'root=/dev/vda1 kernel_leap.run=r1\n');
  writeFileSync(join(root, 'boot_id'), `${BOOT_ID}\n`);
  // What criu's action script does once the tasks resume: the restored root's pid in the pid file.
  const launch = join(root, 'fake-launch');
  writeFileSync(launch, '#!/bin/sh\necho $$ > "$1"\n', { mode: 0o755 });
  return { root, run, launch };
}

type Scratch = ReturnType<typeof scratch>;

function context(bed: Scratch, over: Partial<RestoreScriptContext> = {}): RestoreScriptContext {
  const pidFile = join(bed.run, 'restored-pid');
  return {
    runId: 'r1',
    record: join(bed.run, 'record'),
    pidFile,
    procBootId: join(bed.root, 'boot_id'),
    rulesFile: join(bed.root, 'lock-rules.v4'),
    marker: join(bed.root, 'rules-loaded'),
    addresses: [],
    earlyAddresses: [],
    addressTimeoutS: 1,
    restoreTimeoutS: 10,
    ptys: [],
    fifos: [],
    socketDirs: [],
    reopenedFiles: [],
    unscaled: false,
    procSys: join(bed.root, 'proc/sys'),
    savedSysctls: join(bed.root, 'saved'),
    argv: [bed.launch, pidFile],
    criuLog: join(bed.run, 'restore.log'),
    pathsLock: join(bed.root, 'run/paths.lock'),
    udevData: join(bed.root, 'udev'),
    ...over,
  };
}

/** Renders and runs the script with dash, as restore-boot.sh and Node run it; its exit code and record. */
function runScript(bed: Scratch, over: Partial<RestoreScriptContext> = {}) {
  const ctx = context(bed, over);
  const script = join(bed.run, 'restore.sh');
  writeFileSync(script, renderRestoreScript(ctx));
  const result = spawnSync('dash', [script], { encoding: 'utf8', timeout: 30_000 });
  return { status: result.status, stderr: result.stderr, record: readRecord(ctx.record) };
}

function readRecord(path: string) {
  return parseRestoreRecord(readFileSync(path, 'utf8'), path);
}

function entry(path: string, mode: number, uid: number, index = 0): OwnedPath {
  return { index, path, mode: mode.toString(8), uid, gid: uid };
}

/** A directory of root's (0755) that the user must not get anything into, as /etc. */
function rootDir(bed: Scratch): string {
  const dir = join(bed.root, 'etc');
  mkdirSync(dir, { mode: 0o755 });
  return dir;
}

/** nobody's home, with what they made in it. */
function userDir(bed: Scratch): string {
  const dir = join(bed.root, 'home-nobody');
  mkdirSync(dir, { mode: 0o755 });
  chownSync(dir, NOBODY, NOBODY);
  return dir;
}

/** nobody's symlink at `path` to `target`, as a restored process of theirs could leave it. */
function usersSymlink(target: string, path: string): void {
  symlinkSync(target, path);
  lchownSync(path, NOBODY, NOBODY);
}

/** nobody's home holding their symlink `name` into a root directory (as /etc), both to look in after. */
function symlinkIntoEtc(bed: Scratch, name: string) {
  const etc = rootDir(bed);
  const home = userDir(bed);
  usersSymlink(etc, join(home, name));
  return { etc, link: join(home, name) };
}

const owner = (path: string) => {
  const s = lstatSync(path);
  return { uid: s.uid, gid: s.gid, mode: s.mode & 0o7777, fifo: s.isFIFO(), dir: s.isDirectory() };
};

describe("the restore script's FIFOs", () => {
  it("makes a user's FIFO as that user, with the directories above it, then launches criu", () => {
    const bed = scratch();
    const fifo = join(userDir(bed), 'gone/ctl.fifo');
    const { status, record } = runScript(bed, { fifos: [entry(fifo, 0o620, NOBODY)] });
    expect(record.gaveUp).toBeUndefined();
    expect(record.outcome).toBe('restored');
    expect(status).toBe(0);
    expect(owner(fifo)).toMatchObject({ fifo: true, uid: NOBODY, gid: NOBODY, mode: 0o620 });
    // The directory the boot removed is theirs again, not root's.
    expect(owner(join(fifo, '..'))).toMatchObject({ uid: NOBODY });
  });

  it("does not follow a user's symlink into a root directory: nothing is made there, and it gives up naming the FIFO", () => {
    const bed = scratch();
    const { etc, link } = symlinkIntoEtc(bed, 'sock');
    const { status, record } = runScript(bed, {
      fifos: [
        entry(join(bed.root, 'other.fifo'), 0o600, 0),
        entry(join(link, 'x'), 0o600, NOBODY, 1),
      ],
    });
    expect(status).toBe(1);
    expect(record).toMatchObject({ gaveUp: 'fifo', item: 1, why: 'failed' });
    expect(record.outcome).toBeUndefined();
    expect(readdirSync(etc)).toEqual([]);
  });

  it("makes root's FIFO under a sticky directory open to all (as /tmp), owned as it was dumped", () => {
    const bed = scratch();
    const tmp = join(bed.root, 'tmp');
    mkdirSync(tmp);
    chmodSync(tmp, 0o1777);
    const fifo = join(tmp, 'made-by-root/ctl');
    const { record } = runScript(bed, { fifos: [{ ...entry(fifo, 0o600, 0), gid: 5 }] });
    expect(record.outcome).toBe('restored');
    expect(owner(fifo)).toMatchObject({ fifo: true, uid: 0, gid: 5, mode: 0o600 });
    expect(owner(join(tmp, 'made-by-root'))).toMatchObject({ uid: 0, mode: 0o700 });
  });

  it.each([
    ['a symlink of a user’s on the way', 'link'],
    ['a directory of a user’s on the way', 'dir'],
    ['a directory open to all without the sticky bit on the way', 'open'],
    ['a directory its group may write to, without the sticky bit, on the way', 'group'],
  ] as const)("refuses root's FIFO with %s: unsafe, nothing made", (_what, kind) => {
    const bed = scratch();
    const etc = rootDir(bed);
    const via = join(bed.root, 'via');
    if (kind === 'link') usersSymlink(etc, via);
    if (kind === 'dir') {
      mkdirSync(via);
      chownSync(via, NOBODY, NOBODY);
    }
    if (kind === 'open' || kind === 'group') {
      mkdirSync(via);
      chmodSync(via, kind === 'open' ? 0o777 : 0o775);
    }
    const { status, record } = runScript(bed, { fifos: [entry(join(via, 'ctl'), 0o600, 0)] });
    expect(status).toBe(1);
    expect(record).toMatchObject({ gaveUp: 'fifo', item: 0, why: 'unsafe' });
    expect(readdirSync(etc)).toEqual([]);
    if (kind !== 'link') expect(readdirSync(via)).toEqual([]);
  });

  it('follows a symlink of root’s own on the way (as /var/run)', () => {
    const bed = scratch();
    const run = join(bed.root, 'real-run');
    mkdirSync(run, { mode: 0o755 });
    symlinkSync(run, join(bed.root, 'var-run'));
    const { record } = runScript(bed, { fifos: [entry(join(bed.root, 'var-run/ctl'), 0o600, 0)] });
    expect(record.outcome).toBe('restored');
    expect(owner(join(run, 'ctl')).fifo).toBe(true);
  });

  it.each([
    ['a file', (path: string) => writeFileSync(path, 'kept\n')],
    ['a symlink', (path: string) => usersSymlink('/etc/passwd', path)],
    [
      'a FIFO of another user',
      (path: string) => {
        spawnSync('mkfifo', [path]);
        chownSync(path, 1234, 1234);
      },
    ],
  ] as const)('leaves %s where the FIFO was alone: changed, not removed', (_what, make) => {
    const bed = scratch();
    const path = join(userDir(bed), 'ctl');
    make(path);
    const before = owner(path);
    const { status, record } = runScript(bed, { fifos: [entry(path, 0o600, NOBODY)] });
    expect(status).toBe(1);
    expect(record).toMatchObject({ gaveUp: 'fifo', item: 0, why: 'changed' });
    expect(owner(path)).toEqual(before);
  });

  it('keeps a FIFO its owner has there already, and makes one whose path holds a newline', () => {
    const bed = scratch();
    const home = userDir(bed);
    const kept = join(home, 'kept');
    spawnSync('mkfifo', [kept]);
    chownSync(kept, NOBODY, NOBODY);
    const odd = join(home, "it's\nodd $(id)");
    const { record } = runScript(bed, {
      fifos: [entry(kept, 0o600, NOBODY), entry(odd, 0o600, NOBODY, 1)],
    });
    expect(record.outcome).toBe('restored');
    expect(owner(odd)).toMatchObject({ fifo: true, uid: NOBODY });
  });
});

describe("the restore script's socket directories", () => {
  it("makes a user's as that user with its mode, and root's under a sticky directory, and records each by index", () => {
    const bed = scratch();
    const tmp = join(bed.root, 'tmp');
    mkdirSync(tmp);
    chmodSync(tmp, 0o1777);
    const theirs = join(tmp, 'tmux-65534');
    const roots = join(tmp, 'tmux-0');
    const present = join(tmp, 'present');
    mkdirSync(present);
    const { record } = runScript(bed, {
      socketDirs: [
        entry(theirs, 0o700, NOBODY),
        entry(present, 0o700, 0, 1),
        { ...entry(roots, 0o750, 0, 2), gid: 5 },
      ],
    });
    expect(record.outcome).toBe('restored');
    expect(owner(theirs)).toMatchObject({ dir: true, uid: NOBODY, gid: NOBODY, mode: 0o700 });
    expect(owner(roots)).toMatchObject({ dir: true, uid: 0, gid: 5, mode: 0o750 });
    // One that was there already is not made, nor listed as made.
    expect(record.socketDirs).toEqual([0, 2]);
  });

  it("gives up on a user's symlink where a socket directory was, and on one under a symlink into /etc", () => {
    const bed = scratch();
    const { etc, link } = symlinkIntoEtc(bed, 'tmux');
    let { status, record } = runScript(bed, {
      socketDirs: [entry(link, 0o700, NOBODY)],
    });
    expect(status).toBe(1);
    expect(record).toMatchObject({ gaveUp: 'socket-dir', item: 0, why: 'changed' });
    ({ status, record } = runScript(bed, {
      socketDirs: [entry(join(link, 'ssh.service.d'), 0o700, NOBODY)],
    }));
    expect(status).toBe(1);
    expect(record).toMatchObject({ gaveUp: 'socket-dir', item: 0, why: 'failed' });
    expect(readdirSync(etc)).toEqual([]);
  });
});

/** A file of nobody's, held by a process of theirs at the dump: its path, device and inode as Node's stat reads them. */
function usersFile(
  dir: string,
  name = 'notes',
  text = 'twelve bytes',
): ReopenedFile & { path: string } {
  const path = join(dir, name);
  writeFileSync(path, text, { mode: 0o600 });
  chownSync(path, NOBODY, NOBODY);
  const { dev, ino } = statSync(path);
  return { path, dev, ino };
}

function reopened(file: ReopenedFile & { path: string }, index = 0) {
  return {
    index,
    path: file.path,
    dev: file.dev ?? ('-' as const),
    ino: file.ino ?? ('-' as const),
  };
}

/** A file of root's in a root directory, of the same size and mode as the user's, with what it holds and when it last changed. */
function rootsFile(bed: Scratch, text = 'root secret!') {
  const path = join(rootDir(bed), 'secret');
  writeFileSync(path, text, { mode: 0o600 });
  const seen = () => ({
    text: readFileSync(path, 'utf8'),
    ...owner(path),
    mtime: statSync(path).mtimeMs,
  });
  return { path, seen };
}

describe("the restore script's files held by path", () => {
  it('launches criu when each file is the dump’s, at its path, through root’s own symlink too (as /var/run)', () => {
    const bed = scratch();
    const home = userDir(bed);
    const real = join(bed.root, 'real-run');
    mkdirSync(real, { mode: 0o755 });
    symlinkSync(real, join(bed.root, 'var-run'));
    const there = usersFile(real, 'through-link');
    const { status, record } = runScript(bed, {
      reopenedFiles: [
        reopened(usersFile(home)),
        reopened({ ...there, path: join(bed.root, 'var-run/through-link') }, 1),
        // On a file system whose device a boot numbers anew, the inode alone.
        reopened({ ...usersFile(home, "it's\nodd $(id)"), dev: undefined }, 2),
      ],
    });
    expect(record.gaveUp).toBeUndefined();
    expect(record.outcome).toBe('restored');
    expect(status).toBe(0);
  });

  it("refuses a file its user swapped for a symlink to root's file of the same size and mode: no launch, the target untouched", () => {
    const bed = scratch();
    const home = userDir(bed);
    const secret = rootsFile(bed);
    const file = usersFile(home);
    const before = secret.seen();
    rmSync(file.path);
    usersSymlink(secret.path, file.path);
    const { status, record } = runScript(bed, {
      reopenedFiles: [reopened(usersFile(home, 'kept')), reopened(file, 1)],
    });
    expect(status).toBe(1);
    expect(record).toMatchObject({ gaveUp: 'file', item: 1, why: 'unsafe' });
    expect(record.outcome).toBeUndefined();
    expect(existsSync(join(bed.run, 'restored-pid'))).toBe(false);
    expect(secret.seen()).toEqual(before);
  });

  it("refuses a path through a directory of the user's swapped for a symlink, and through root's symlink in a user's directory", () => {
    const bed = scratch();
    const home = userDir(bed);
    const secret = rootsFile(bed);
    const sub = join(home, 'sub');
    mkdirSync(sub);
    chownSync(sub, NOBODY, NOBODY);
    const file = usersFile(sub, 'secret');
    renameSync(sub, join(home, 'was-sub'));
    usersSymlink(join(secret.path, '..'), sub);
    let { status, record } = runScript(bed, { reopenedFiles: [reopened(file)] });
    expect(status).toBe(1);
    expect(record).toMatchObject({ gaveUp: 'file', item: 0, why: 'unsafe' });
    // A symlink of root's is followed only in a directory no user can change: one in theirs came by a hard link.
    rmSync(sub);
    symlinkSync(join(secret.path, '..'), sub);
    expect(lstatSync(sub).uid).toBe(0);
    ({ status, record } = runScript(bed, { reopenedFiles: [reopened(file)] }));
    expect(status).toBe(1);
    expect(record).toMatchObject({ gaveUp: 'file', item: 0, why: 'unsafe' });
  });

  it.each([
    [
      'another file renamed over it',
      (path: string, home: string) => renameSync(usersFile(home, 'other').path, path),
    ],
    ['it removed', (path: string) => rmSync(path)],
    [
      'a directory in its place',
      (path: string) => {
        rmSync(path);
        mkdirSync(path);
      },
    ],
  ] as const)('refuses a file with %s: changed', (_what, change) => {
    const bed = scratch();
    const home = userDir(bed);
    const file = usersFile(home);
    change(file.path, home);
    const { status, record } = runScript(bed, { reopenedFiles: [reopened(file)] });
    expect(status).toBe(1);
    expect(record).toMatchObject({ gaveUp: 'file', item: 0, why: 'changed' });
  });

  it('refuses the same inode on another device, and compares no number recorded as -', () => {
    const bed = scratch();
    const file = usersFile(userDir(bed));
    const onAnother = runScript(bed, {
      reopenedFiles: [reopened({ ...file, dev: (file.dev ?? 0) + 1 })],
    });
    expect(onAnother.record).toMatchObject({ gaveUp: 'file', why: 'changed' });
    const kernels = runScript(bed, {
      reopenedFiles: [{ index: 0, path: file.path, dev: '-', ino: '-' }],
    });
    expect(kernels.record.outcome).toBe('restored');
  });
});

describe("the restore script's gates and window", () => {
  it('gives up at a gate that does not open in time, with the marks of those that did', () => {
    const bed = scratch();
    writeFileSync(join(bed.root, 'lock-rules.v4'), '*filter\nCOMMIT\n');
    const { status, record } = runScript(bed);
    expect(status).toBe(1);
    expect(record.gaveUp).toBe('gate.rules');
    expect([...record.marks.keys()]).toEqual(['restoreUnitStart', 'gate.devpts']);
    expect(existsSync(join(bed.run, 'restored-pid'))).toBe(false);
  });

  it('gives up when a dumped pty index is taken: the remap is Node’s', async () => {
    const bed = scratch();
    const holder = spawn(
      'python3',
      [
        '-c',
        'import os, sys, time\nm, s = os.openpty()\nprint(os.ttyname(s), flush=True)\ntime.sleep(30)',
      ],
      { stdio: ['ignore', 'pipe', 'ignore'] },
    );
    try {
      const tty = await new Promise<string>((resolve) =>
        holder.stdout.once('data', (d: Buffer) => resolve(d.toString().trim())),
      );
      const index = Number(tty.replace('/dev/pts/', ''));
      const { status, record } = runScript(bed, { ptys: [index] });
      expect(status).toBe(1);
      expect(record.gaveUp).toBe('pty-taken');
      expect(record.marks.has('gate.addresses')).toBe(true);
    } finally {
      holder.kill('SIGKILL');
    }
  });

  it('turns window scaling off for the launch, saved where the unit puts it back from, and on after', () => {
    const bed = scratch();
    const scaling = join(bed.root, 'proc/sys/net/ipv4/tcp_window_scaling');
    const seen = join(bed.root, 'seen');
    const launch = join(bed.root, 'seeing-launch');
    writeFileSync(
      launch,
      `#!/bin/sh\ncat '${scaling}' '${join(bed.root, 'saved/net.ipv4.tcp_window_scaling')}' > '${seen}'\necho $$ > "$1"\n`,
      { mode: 0o755 },
    );
    const { record } = runScript(bed, {
      unscaled: true,
      argv: [launch, join(bed.run, 'restored-pid')],
    });
    expect(record.outcome).toBe('restored');
    expect(readFileSync(seen, 'utf8')).toBe('0\n1\n');
    expect(readFileSync(scaling, 'utf8')).toBe('1\n');
    expect(readdirSync(join(bed.root, 'saved'))).toEqual([]);
    expect(statSync(join(bed.root, 'saved')).mode & 0o777).toBe(0o700);
  });
});

describe("the restore script's launch again after a pty race", () => {
  /** A launch that fails as criu does when a restore beside it held its pty index, its first `raced` times. */
  function racingLaunch(bed: Scratch, raced: number) {
    const launch = join(bed.root, 'racing-launch');
    const count = join(bed.root, 'launches');
    const log = join(bed.run, 'restore.log');
    writeFileSync(
      launch,
      `#!/bin/sh\nn=$(($(cat '${count}' 2> /dev/null || echo 0) + 1)); echo $n > '${count}'\n` +
        `if [ $n -le ${raced} ]; then echo 'Error (criu/tty.c:1010): Unable to open /dev/ptmx with specified index 3' > '${log}'; exit 1; fi\n` +
        `echo $$ > "$1"\n`,
      { mode: 0o755 },
    );
    const launches = () => Number(readFileSync(count, 'utf8'));
    return { argv: [launch, join(bed.run, 'restored-pid')], log, launches };
  }

  it('launches criu again when it gave up on a pty index held for a moment, keeping the raced log', () => {
    const bed = scratch();
    const launch = racingLaunch(bed, 1);
    const { status, record } = runScript(bed, { argv: launch.argv, criuLog: launch.log });
    expect(record.outcome).toBe('restored');
    expect(record.relaunched).toBe(1);
    expect(status).toBe(0);
    expect(launch.launches()).toBe(2);
    expect(readFileSync(`${launch.log}.raced`, 'utf8')).toContain('with specified index');
  });

  it('gives it three launches in all, and none again for another failure', () => {
    const bed = scratch();
    const always = racingLaunch(bed, 9);
    const raced = runScript(bed, { argv: always.argv, criuLog: always.log });
    expect(raced.status).toBe(1);
    expect(raced.record).toMatchObject({ outcome: 'ended', relaunched: 2 });
    expect(always.launches()).toBe(3);

    const other = scratch();
    const failing = join(other.root, 'failing-launch');
    writeFileSync(
      failing,
      `#!/bin/sh\necho "Error: something else" > '${join(other.run, 'restore.log')}'\nexit 1\n`,
      {
        mode: 0o755,
      },
    );
    const ended = runScript(other, { argv: [failing] });
    expect(ended.record.outcome).toBe('ended');
    expect(ended.record.relaunched).toBeUndefined();
  });

  it("takes the machine's value from where a killed restore saved it, never the 0 it left", () => {
    const bed = scratch();
    const scaling = join(bed.root, 'proc/sys/net/ipv4/tcp_window_scaling');
    writeFileSync(scaling, '0\n');
    mkdirSync(join(bed.root, 'saved'));
    writeFileSync(join(bed.root, 'saved/net.ipv4.tcp_window_scaling'), '1\n');
    const { record } = runScript(bed, { unscaled: true });
    expect(record.outcome).toBe('restored');
    expect(readFileSync(scaling, 'utf8')).toBe('1\n');
    expect(readdirSync(join(bed.root, 'saved'))).toEqual([]);
  });
});

describe("the restore script's turn at making paths", () => {
  /** Holds LOCK as another restore making its paths would, until the returned release. */
  async function holdLock(lock: string) {
    mkdirSync(join(lock, '..'), { recursive: true });
    const holder = spawn('flock', ['-o', lock, 'sleep', '30'], { stdio: 'ignore', detached: true });
    while (spawnSync('flock', ['-n', lock, 'true']).status === 0)
      await new Promise((r) => setTimeout(r, 20));
    return () => process.kill(-(holder.pid ?? 0), 'SIGKILL');
  }

  it('makes its FIFOs only once no restore beside it makes paths, and launches criu without the lock', async () => {
    const bed = scratch();
    const ctx = context(bed);
    const fifo = join(userDir(bed), 'ctl');
    const free = join(bed.root, 'lock-free-at-launch');
    const launch = join(bed.root, 'lock-checking-launch');
    writeFileSync(
      launch,
      `#!/bin/sh\n[ ! -e /proc/$$/fd/9 ] && flock -n "$2" true && echo yes > "$3"\necho $$ > "$1"\n`,
      { mode: 0o755 },
    );
    const release = await holdLock(ctx.pathsLock);
    const script = join(bed.run, 'restore.sh');
    writeFileSync(
      script,
      renderRestoreScript({
        ...ctx,
        fifos: [entry(fifo, 0o600, NOBODY)],
        argv: [launch, ctx.pidFile, ctx.pathsLock, free],
      }),
    );
    const restore = spawn('dash', [script], { stdio: 'ignore' });
    const ended = new Promise<number | null>((r) => restore.once('exit', r));
    await new Promise((r) => setTimeout(r, 500));
    expect(existsSync(fifo)).toBe(false);
    release();
    expect(await ended).toBe(0);
    expect(owner(fifo)).toMatchObject({ fifo: true, uid: NOBODY });
    expect(readFileSync(free, 'utf8')).toBe('yes\n');
    expect(readRecord(ctx.record).outcome).toBe('restored');
  });
});

describe("the restore script's early addresses", () => {
  const early = {
    index: 0,
    ip: '10.9.0.5',
    prefix: 24,
    dev: 'kl0',
    gateway: '10.9.0.1',
    metric: '',
  };

  /**
   * Runs the script in a network namespace of its own holding two veth pairs
   * (kl0, kl2 and their peers), after `setup`; `named`: udev has named kl0.
   * What ip then says of kl0's addresses and the default route.
   */
  function inNetns(bed: Scratch, setup: string, named = true) {
    requireCommand('ip', 'iproute2');
    requireCommand('unshare', 'util-linux');
    const ctx = context(bed, { earlyAddresses: [early] });
    const udev = ctx.udevData;
    mkdirSync(udev, { recursive: true });
    const script = join(bed.run, 'restore.sh');
    writeFileSync(script, renderRestoreScript(ctx));
    const shell = [
      'set -e',
      // This namespace's interfaces in /sys/class/net, as at boot.
      'mount -t sysfs sysfs /sys',
      'ip link add kl0 type veth peer name kl1',
      'ip link add kl2 type veth peer name kl3',
      named ? 'touch "$1/n$(cat /sys/class/net/kl0/ifindex)"' : ':',
      setup,
      'dash "$2" || :',
      'echo "addresses: $(ip -o -4 addr show dev kl0)"',
      'echo "route: $(ip route show default)"',
    ].join('\n');
    const result = spawnSync('unshare', ['-n', '-m', 'sh', '-c', shell, 'sh', udev, script], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(result.status, result.stderr).toBe(0);
    return { out: result.stdout, record: readRecord(ctx.record) };
  }

  it('puts a leased address back on its interface, up, with its default route, before its gate', () => {
    requireRoot();
    const { out, record } = inNetns(scratch(), ':');
    expect(record.early).toEqual({ 0: 'up' });
    expect(record.outcome).toBe('restored');
    expect(out).toMatch(/addresses: .*kl0\s+inet 10\.9\.0\.5\/24 /);
    expect(out).toMatch(/route: default via 10\.9\.0\.1 dev kl0/);
  });

  it('leaves an address its interface has already as it is', () => {
    requireRoot();
    const { record } = inNetns(scratch(), 'ip addr add 10.9.0.5/24 dev kl0');
    expect(record.early).toEqual({ 0: 'there' });
    expect(record.outcome).toBe('restored');
  });

  it('does not take an address another interface holds: its gate waits for the stack to bring it to its own, here in vain', () => {
    requireRoot();
    const { out, record } = inNetns(scratch(), 'ip addr add 10.9.0.5/32 dev kl2');
    expect(record.early).toEqual({ 0: 'taken' });
    expect(record.gaveUp).toBe('gate.addresses');
    expect(out).not.toMatch(/10\.9\.0\.5/);
  });

  it('puts nothing on an interface udev has not named yet', () => {
    requireRoot();
    const { out, record } = inNetns(scratch(), ':', false);
    expect(record.early).toEqual({ 0: 'no-device' });
    expect(record.gaveUp).toBe('gate.addresses');
    expect(out).toMatch(/addresses: $/m);
  });
});
