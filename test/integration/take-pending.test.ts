/**
 * take-pending.sh (templates/take-pending.sh.hbs), the one implementation of the
 * take at boot, run for real by dash and read back as Node's restore reads it
 * (bootRuns). A power cut is the take killed at one of its writes (stand-ins for
 * sync, mv and rm kill it there); the next boot runs it again with another id.
 * Each window reads as the boot restore always has: a run the list does not name
 * yet is taken again, as the next boot's own; a run the list names is the cut
 * boot's, settled and never restored at boot again.
 */
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmdirSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { type BootRuns, bootRuns } from '../../src/state/pending.js';
import { writeTakeScript } from '../../src/steps/restore/take.js';

/** The writes a power cut can fall between, each through a stand-in that notes it first. */
const WRITERS = ['sync', 'mv', 'rm'];

interface Start {
  pending?: string[];
  /** An earlier boot's list, and that boot's restoring.boot. */
  restoring?: string[];
  takenBy?: string[];
}

function takeBed(start: Start) {
  // Every character the quoting must survive, in the state dir's path.
  const root = mkdtempSync(join(tmpdir(), "kl take it's $X `id`-"));
  const stateDir = join(root, 'state');
  mkdirSync(stateDir);
  const lines = (ids: string[]) => ids.map((id) => `${id}\n`).join('');
  if (start.pending) writeFileSync(join(stateDir, 'pending'), lines(start.pending));
  if (start.restoring) writeFileSync(join(stateDir, 'restoring'), lines(start.restoring));
  if (start.takenBy) writeFileSync(join(stateDir, 'restoring.boot'), lines(start.takenBy));
  const procBootId = join(root, 'boot_id');
  const script = writeTakeScript(stateDir, { procBootId });
  const bin = join(root, 'bin');
  mkdirSync(bin);
  const writes = join(root, 'writes');
  for (const name of WRITERS)
    writeFileSync(
      join(bin, name),
      [
        '#!/bin/sh',
        `echo "${name} $*" >> "$KL_WRITES"`,
        // Killed before this write, as a power cut would: nothing after it happens.
        '[ "$(wc -l < "$KL_WRITES")" != "$KL_CUT_AT" ] || { kill -KILL "$PPID"; exit 1; }',
        `PATH=$KL_PATH exec ${name} "$@"`,
        '',
      ].join('\n'),
      { mode: 0o755 },
    );

  /** The take on the boot `bootId`, under an open umask, killed at its `cutAt`th write if given. */
  const take = (bootId: string, cutAt = 0) => {
    writeFileSync(procBootId, `${bootId}\n`);
    writeFileSync(writes, '');
    const result = spawnSync('/bin/sh', ['-c', 'umask 022 && exec /bin/sh "$0"', script], {
      encoding: 'utf8',
      env: {
        ...process.env,
        PATH: `${bin}:${process.env.PATH ?? ''}`,
        KL_PATH: process.env.PATH ?? '',
        KL_WRITES: writes,
        KL_CUT_AT: String(cutAt),
      },
    });
    return {
      status: result.status,
      stderr: result.stderr,
      signal: result.signal,
      took: result.stdout.split('\n').filter(Boolean),
      writes: readFileSync(writes, 'utf8').split('\n').filter(Boolean),
    };
  };
  const file = (name: string) =>
    existsSync(join(stateDir, name)) ? readFileSync(join(stateDir, name), 'utf8') : undefined;
  return { stateDir, take, file, read: (bootId: string) => bootRuns(stateDir, bootId) };
}

describe('take-pending.sh', () => {
  it("takes the pending runs for this boot: the list, this boot's id and what it took beside it, owner-only whatever the umask", () => {
    const bed = takeBed({ pending: ['r1', 'r2'] });
    const first = bed.take('boot-1');
    expect(first).toMatchObject({ status: 0, stderr: '', took: ['r1', 'r2'] });
    expect(bed.file('pending')).toBeUndefined();
    expect(bed.file('restoring')).toBe('r1\nr2\n');
    expect(bed.file('restoring.boot')).toBe('boot-1\nr1\nr2\n');
    for (const name of ['restoring', 'restoring.boot'])
      expect(statSync(join(bed.stateDir, name)).mode & 0o777, name).toBe(0o600);
    // Its writes, in order: the boot's id and runs, then the list, then the pending mark goes.
    expect(first.writes.map((w) => w.split(' ')[0])).toEqual([
      'sync',
      'mv',
      'sync',
      'mv',
      'rm',
      'sync',
    ]);
    expect(bed.read('boot-1')).toEqual({ fresh: ['r1', 'r2'], cutShort: [] });
    // The next boot finds the list this one left: cut short.
    expect(bed.take('boot-2')).toMatchObject({ status: 0, took: [], writes: [] });
    expect(bed.read('boot-2')).toEqual({ fresh: [], cutShort: ['r1', 'r2'] });
  });

  it("over an earlier boot's list (its restore cut short): takes only the pending runs, and that list stays cut short", () => {
    const bed = takeBed({ pending: ['r1'], restoring: ['r0'], takenBy: ['boot-0', 'r0'] });
    expect(bed.take('boot-1')).toMatchObject({ status: 0, took: ['r1'] });
    expect(bed.file('restoring')).toBe('r0\nr1\n');
    expect(bed.read('boot-1')).toEqual({ fresh: ['r1'], cutShort: ['r0'] });
  });

  it('this boot taking again (its unit started again, a run pending since): what it took before stays its own', () => {
    const bed = takeBed({ pending: ['r1'] });
    bed.take('boot-1');
    writeFileSync(join(bed.stateDir, 'pending'), 'r3\n');
    expect(bed.take('boot-1')).toMatchObject({ status: 0, took: ['r3'] });
    expect(bed.file('restoring.boot')).toBe('boot-1\nr1\nr3\n');
    expect(bed.read('boot-1')).toEqual({ fresh: ['r1', 'r3'], cutShort: [] });
  });

  it('with nothing pending, writes nothing and takes nothing', () => {
    const bed = takeBed({ restoring: ['r0'], takenBy: ['boot-0', 'r0'] });
    expect(bed.take('boot-1')).toEqual({
      status: 0,
      signal: null,
      stderr: '',
      took: [],
      writes: [],
    });
    expect(bed.file('restoring.boot')).toBe('boot-0\nr0\n');
  });

  it('fails, and leaves the runs pending, when it cannot write the list', () => {
    const bed = takeBed({ pending: ['r1'] });
    // A directory where the list's temporary file goes: the write fails, as on a full disk.
    mkdirSync(join(bed.stateDir, 'restoring.tmp'));
    const failed = bed.take('boot-1');
    expect(failed.status).not.toBe(0);
    expect(failed.stderr).toMatch(/restoring\.tmp: Is a directory/);
    expect(bed.file('pending')).toBe('r1\n');
    expect(bed.file('restoring')).toBeUndefined();
    // The next boot, with room again, takes them as its own.
    rmdirSync(join(bed.stateDir, 'restoring.tmp'));
    expect(bed.take('boot-2')).toMatchObject({ status: 0, stderr: '', took: ['r1'] });
    expect(bed.read('boot-2')).toEqual({ fresh: ['r1'], cutShort: [] });
  });

  /** A power cut at each write of the take, then the next boot's take. */
  const fresh = (earlier: string[]): BootRuns => ({ fresh: ['r1', 'r2'], cutShort: earlier });
  const cut = (earlier: string[]): BootRuns => ({ fresh: [], cutShort: [...earlier, 'r1', 'r2'] });
  const windows = [
    { at: 1, write: /^sync .*restoring\.boot\.tmp$/, next: fresh },
    { at: 2, write: /^mv .*restoring\.boot\.tmp .*restoring\.boot$/, next: fresh },
    { at: 3, write: /^sync .*restoring\.tmp$/, next: fresh },
    { at: 4, write: /^mv .*restoring\.tmp .*restoring$/, next: fresh },
    { at: 5, write: /^rm -f .*pending$/, next: cut },
    { at: 6, write: /^sync .*state$/, next: cut },
  ];
  const starts: Array<[string, Start, string[]]> = [
    ['no list', { pending: ['r1', 'r2'] }, []],
    [
      "an earlier boot's list",
      { pending: ['r1', 'r2'], restoring: ['r0'], takenBy: ['boot-0', 'r0'] },
      ['r0'],
    ],
  ];
  for (const [startName, start, earlier] of starts)
    for (const { at, write, next } of windows)
      it(`over ${startName}, a power cut before its write ${at} (${write.source}): the next boot reads ${next === fresh ? 'the runs as its own' : 'them as cut short'}`, () => {
        const bed = takeBed(start);
        const cutBoot = bed.take('boot-1', at);
        expect(cutBoot).toMatchObject({ signal: 'SIGKILL', stderr: '' });
        expect(cutBoot.writes.at(-1)).toMatch(write);
        expect(bed.take('boot-2')).toMatchObject({ status: 0, stderr: '' });
        expect(bed.read('boot-2')).toEqual(next(earlier));
        expect(bed.file('pending')).toBeUndefined();
      });
});
