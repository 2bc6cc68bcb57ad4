/**
 * The resume of the trees a restore left stopped (templates/resume-trees.sh.hbs,
 * rendered by src/steps/restore/resume.ts), run by dash against a /proc of files:
 * which processes it resumes and in what order (deepest first, children before
 * their parents), which it leaves (stopped at the dump, by their pid in the
 * tree's namespace), and which runs count (restored on this boot, not resumed
 * yet). The fixture's pids are above any pid_max, so no signal reaches a real
 * process: each one is noted `gone`, in the order it was tried. The signals
 * themselves are test/integration/resume-trees.test.ts's.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { readResumed } from '../../../../src/state/restore-record.js';
import { stoppedProcesses } from '../../../../src/steps/checkpoint/dump.js';
import { resumeScriptPath, writeResumeScript } from '../../../../src/steps/restore/resume.js';
import { snapshotProc } from '../../../../src/tools/procfs.js';

const BOOT_ID = '6f1c2d3e-0000-4000-8000-0000000000dd';
/** Above pid_max (at most 2^22): no real process has these. */
const HOST = 9_000_000;

/**
 * A restored tree: the launcher, criu (pid 1 of the namespace), the session's
 * sshd (ns 100), its bash (101), bash's foreground vim (102) and a job stopped
 * at the dump (103), vim's child (104), and a second sshd child (105).
 */
const TREE: Record<number, number[]> = {
  [HOST]: [HOST + 1],
  [HOST + 1]: [HOST + 100],
  [HOST + 100]: [HOST + 101, HOST + 105],
  [HOST + 101]: [HOST + 102, HOST + 103],
  [HOST + 102]: [HOST + 104],
};

function bed() {
  const root = mkdtempSync(join(tmpdir(), 'kl-resume-unit-'));
  const proc = join(root, 'proc');
  const stateDir = join(root, 'state');
  const nsPid = (pid: number) => (pid === HOST ? undefined : pid - HOST);
  for (let pid = HOST; pid <= HOST + 105; pid++) {
    if (pid !== HOST && pid !== HOST + 1 && pid < HOST + 100) continue;
    // Two threads: children are listed by the thread that forked them.
    const [first = [], ...second] = [TREE[pid]?.slice(0, 1), TREE[pid]?.slice(1)];
    for (const [tid, kids] of [
      [pid, first],
      [`${pid}9`, second.flat()],
    ] as const) {
      mkdirSync(join(proc, String(pid), 'task', String(tid)), { recursive: true });
      writeFileSync(join(proc, String(pid), 'task', String(tid), 'children'), kids.join(' '));
    }
    const ns = nsPid(pid);
    writeFileSync(
      join(proc, String(pid), 'status'),
      `Name:\tx\nState:\tT (stopped)\nNSpid:\t${pid}${ns === undefined ? '' : `\t${ns}`}\n`,
    );
  }
  writeFileSync(join(root, 'boot_id'), `${BOOT_ID}\n`);
  const run = (id: string, records: Record<string, string>, stopped?: string) => {
    const dir = join(stateDir, 'runs', id);
    mkdirSync(dir, { recursive: true });
    for (const [name, text] of Object.entries(records)) writeFileSync(join(dir, name), text);
    if (stopped !== undefined) writeFileSync(join(dir, 'stopped-at-dump'), stopped);
    return dir;
  };
  mkdirSync(stateDir, { recursive: true });
  writeResumeScript(stateDir, { proc, procBootId: join(root, 'boot_id') });
  const resume = (...runs: string[]) => {
    const result = spawnSync('dash', [resumeScriptPath(stateDir), ...runs], { encoding: 'utf8' });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  };
  return { stateDir, run, resume };
}

const restored = (boot = BOOT_ID, launcher = HOST) =>
  `boot=${boot}\noutcome=restored\nlauncher=${launcher}\n`;

/** The resume's lines but boot and at: what it did to each process, in order. */
function done(dir: string): string[] {
  return readFileSync(join(dir, 'resumed'), 'utf8')
    .split('\n')
    .filter((l) => /^(cont|kept|gone)=/.test(l));
}

describe('the resume of a restored tree', () => {
  it('goes deepest first, children before parents, and leaves what was stopped at the dump', () => {
    const b = bed();
    const dir = b.run('r1', { 'fast-restore': restored() }, '103\n');
    b.resume('r1');
    // Generations from the deepest: vim's child; vim and the stopped job; bash and sshd's second child; sshd. Never criu.
    expect(done(dir)).toEqual([
      'gone=104',
      'gone=102',
      'kept=103',
      'gone=101',
      'gone=105',
      'gone=100',
    ]);
    const resumed = readResumed(dir, BOOT_ID);
    expect(resumed?.kept).toEqual([103]);
    expect(resumed?.at.getTime()).toBeGreaterThan(Date.now() - 60_000);
    expect(readResumed(dir, 'another boot')).toBeUndefined();
  });

  it("takes Node's record first, and only a run this boot restored and did not resume yet", () => {
    const b = bed();
    // Node ran its own after the boot's: its record is the latest.
    const nodeRan = b.run('node', {
      'fast-restore': `boot=${BOOT_ID}\noutcome=ended\nlauncher=1\n`,
      'node-restore': restored(),
    });
    const otherBoot = b.run('old', { 'fast-restore': restored('an earlier boot') });
    const failed = b.run('failed', { 'fast-restore': `boot=${BOOT_ID}\noutcome=timeout\n` });
    const resumed = b.run('twice', {
      'fast-restore': restored(),
      resumed: `boot=${BOOT_ID}\nat=1\n`,
    });
    // No run named: the restoring list, as restore-boot.sh and the unit's ExecStopPost= run it.
    writeFileSync(join(b.stateDir, 'restoring'), 'node\nold\nfailed\ntwice\n../node\n');
    b.resume();
    expect(done(nodeRan)).toHaveLength(6);
    for (const dir of [otherBoot, failed]) expect(existsSync(join(dir, 'resumed'))).toBe(false);
    expect(readFileSync(join(resumed, 'resumed'), 'utf8')).toBe(`boot=${BOOT_ID}\nat=1\n`);
  });

  it('without a restoring list and no run named, does nothing', () => {
    const b = bed();
    const dir = b.run('r1', { 'fast-restore': restored() });
    b.resume();
    expect(existsSync(join(dir, 'resumed'))).toBe(false);
  });
});

describe('the processes stopped at the dump', () => {
  it('are those a signal stopped (T), not a tracer (t), nor the running and sleeping', () => {
    const status = (state: string) => `Name:\tx\nState:\t${state}\nNSpid:\t1\n`;
    const proc = snapshotProc({
      texts: {
        '/proc/10/status': status('S (sleeping)'),
        '/proc/11/status': status('T (stopped)'),
        '/proc/12/status': status('t (tracing stop)'),
        '/proc/13/status': status('R (running)'),
      },
      links: {},
      dirs: {},
      stats: {},
    });
    expect(stoppedProcesses(proc, [10, 11, 12, 13, 14])).toEqual([11]);
  });
});
