/**
 * resume-trees.sh (templates/resume-trees.sh.hbs), run for real by dash as root
 * against a real tree stopped as criu --leave-stopped leaves one, without criu: a
 * launcher (unshare, as the restore's) whose child is pid 1 of a fresh pid
 * namespace (criu's place), under it a shell that watches its child, which
 * watches a sleep, and a job stopped at the dump. The resume wakes children
 * before their parents, so no watcher ever finds its child stopped (an
 * interactive bash would report its job stopped and take the terminal back);
 * leaves the job stopped at the dump stopped; says what it did in the run's
 * `resumed`; and resumes a tree once on a boot, so a job stopped since stays so.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

import { afterEach, describe, expect, it } from 'vitest';

import { renderResumeScript } from '../../src/render/artefacts.js';
import { readResumed } from '../../src/state/restore-record.js';
import { childrenOf, readCmdline, readStatus } from '../../src/tools/proc-tasks.js';
import { liveProc } from '../../src/tools/procfs.js';
import { pollUntil } from '../helpers/poll.js';
import { requireCommand, requireRoot } from '../helpers/require.js';

const BOOT_ID = '6f1c2d3e-0000-4000-8000-0000000000cc';

/** Starts CMD as its child and notes, every 10 ms, each time it finds that child stopped. */
const WATCHER = `
import os, subprocess, sys, time
child = subprocess.Popen(sys.argv[2:])
while True:
    try:
        with open(f"/proc/{child.pid}/status") as f:
            state = next(l for l in f if l.startswith("State:")).split()[1]
    except (OSError, StopIteration):
        state = "?"
    if state == "T":
        with open(sys.argv[1], "a") as f:
            f.write(f"{os.getpid()} found {child.pid} stopped\\n")
    time.sleep(0.01)
`;

const launched: ChildProcess[] = [];
afterEach(() => {
  for (const launcher of launched.splice(0)) launcher.kill('SIGKILL');
});

function stateOf(pid: number): string | undefined {
  return readStatus(liveProc, pid)?.state;
}

function nsPid(pid: number): number {
  return readStatus(liveProc, pid)?.nsPids.at(-1) ?? pid;
}

/** The tree as the restore leaves it: every process under criu's stand-in stopped, parents first (none forks after). */
function stopTree(criu: number): void {
  let generation = childrenOf(liveProc, criu);
  while (generation.length > 0) {
    for (const pid of generation) process.kill(pid, 'SIGSTOP');
    generation = generation.flatMap((pid) => childrenOf(liveProc, pid));
  }
}

async function restoredTree() {
  requireRoot();
  requireCommand('unshare', 'util-linux');
  requireCommand('/usr/bin/python3', 'python3');
  const root = mkdtempSync(join(tmpdir(), 'kl-resume-'));
  const stateDir = join(root, 'state');
  const runDir = join(stateDir, 'runs', 'r1');
  mkdirSync(runDir, { recursive: true });
  writeFileSync(join(root, 'boot_id'), `${BOOT_ID}\n`);
  const watcher = join(root, 'watcher.py');
  writeFileSync(watcher, WATCHER);
  const log = join(root, 'found-stopped');
  writeFileSync(log, '');
  const script = join(root, 'resume-trees.sh');
  writeFileSync(
    script,
    renderResumeScript({
      stateDir,
      proc: '/proc',
      procBootId: join(root, 'boot_id'),
      records: ['node-restore', 'fast-restore'],
      stoppedAtDump: 'stopped-at-dump',
      resumed: 'resumed',
    }),
  );
  // The launcher stays unshare (as the restore's), its child pid 1 of the new namespace;
  // killing it kills that child, and with it the whole namespace.
  const launcher = spawn(
    'unshare',
    [
      '--pid',
      '--fork',
      '--kill-child',
      '--mount-proc',
      'sh',
      '-c',
      // Debian's python3 itself, not a wrapper that forks on its way.
      'P=/usr/bin/python3; $P "$1" "$2" $P "$1" "$2" sleep 600 & sleep 601 & wait',
      'criu',
      watcher,
      log,
    ],
    { stdio: 'ignore' },
  );
  launched.push(launcher);
  const launcherPid = launcher.pid as number;
  const tree = await pollUntil(
    () => {
      const criu = childrenOf(liveProc, launcherPid)[0];
      if (criu === undefined) return undefined;
      const [shell, job] = childrenOf(liveProc, criu)
        .map((pid) => ({ pid, cmd: readCmdline(liveProc, pid) }))
        .sort((a, b) => a.cmd.localeCompare(b.cmd))
        .map((p) => p.pid);
      const watched = shell === undefined ? undefined : childrenOf(liveProc, shell)[0];
      const sleep = watched === undefined ? undefined : childrenOf(liveProc, watched)[0];
      // Each once it runs what it was started for.
      if (
        job === undefined ||
        watched === undefined ||
        sleep === undefined ||
        readCmdline(liveProc, sleep) !== 'sleep 600'
      )
        return undefined;
      return { criu, shell: shell as number, watched, sleep, job };
    },
    { timeoutMs: 20_000, what: 'the tree under the namespace', intervalMs: 50 },
  );
  // The job was stopped at the dump (its user's Ctrl-Z); then the restore left them all stopped.
  process.kill(tree.job, 'SIGSTOP');
  writeFileSync(join(runDir, 'stopped-at-dump'), `${nsPid(tree.job)}\n`);
  stopTree(tree.criu);
  await pollUntil(
    () =>
      [tree.shell, tree.watched, tree.sleep, tree.job].every((p) => stateOf(p) === 'T') ||
      undefined,
    { timeoutMs: 5000, what: 'the tree stopped', intervalMs: 20 },
  );
  writeFileSync(log, '');
  const record = ['boot=earlier', 'outcome=restored', 'launcher=1'].join('\n');
  writeFileSync(join(runDir, 'node-restore'), `${record}\n`);
  writeFileSync(
    join(runDir, 'fast-restore'),
    `boot=${BOOT_ID}\noutcome=restored\nlauncher=${launcherPid}\n`,
  );
  const resume = (...runs: string[]) => {
    const result = spawnSync('dash', [script, ...runs], { encoding: 'utf8', timeout: 30_000 });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  };
  return { runDir, log, tree, resume };
}

describe('resume-trees.sh', () => {
  it('resumes children before parents, leaves the job stopped at the dump stopped, and says so', async () => {
    const { runDir, log, tree, resume } = await restoredTree();
    resume('r1', 'not-restored', '../r1');
    for (const pid of [tree.shell, tree.watched, tree.sleep]) expect(stateOf(pid)).not.toBe('T');
    expect(stateOf(tree.job)).toBe('T');
    const resumed = readResumed(runDir, BOOT_ID);
    expect(resumed?.kept).toEqual([nsPid(tree.job)]);
    // Deepest first: the sleep, then its watcher, then the shell; each but the job is a child of criu's namespace.
    expect(resumed?.resumed).toEqual([tree.sleep, tree.watched, tree.shell].map(nsPid));
    expect(nsPid(tree.criu)).toBe(1);
    // Each watcher runs 10 ms after another: in a quarter second, any would have found its child stopped.
    await delay(250);
    expect(readFileSync(log, 'utf8')).toBe('');
  });

  it('reads a record and a stopped-at-dump list whose last line has no newline', async () => {
    const { runDir, tree, resume } = await restoredTree();
    writeFileSync(join(runDir, 'stopped-at-dump'), String(nsPid(tree.job)));
    const fast = readFileSync(join(runDir, 'fast-restore'), 'utf8');
    writeFileSync(join(runDir, 'fast-restore'), fast.trimEnd());
    resume('r1');
    expect(stateOf(tree.job)).toBe('T');
    expect(readResumed(runDir, BOOT_ID)?.resumed).toEqual(
      [tree.sleep, tree.watched, tree.shell].map(nsPid),
    );
  });

  it('resumes a tree once on a boot: a job its user stopped since stays stopped', async () => {
    const { runDir, tree, resume } = await restoredTree();
    resume();
    expect(existsSync(join(runDir, 'resumed'))).toBe(false);
    writeFileSync(join(runDir, '..', '..', 'restoring'), 'r1\n');
    resume();
    expect(stateOf(tree.sleep)).not.toBe('T');
    const first = readFileSync(join(runDir, 'resumed'), 'utf8');
    process.kill(tree.sleep, 'SIGSTOP');
    await pollUntil(() => stateOf(tree.sleep) === 'T' || undefined, {
      timeoutMs: 5000,
      what: 'the sleep stopped by its user',
      intervalMs: 20,
    });
    resume('r1');
    expect(stateOf(tree.sleep)).toBe('T');
    expect(readFileSync(join(runDir, 'resumed'), 'utf8')).toBe(first);
  });

  it('the watchers do find a child stopped when a parent is resumed first', async () => {
    const { log, tree } = await restoredTree();
    process.kill(tree.shell, 'SIGCONT');
    await pollUntil(() => (readFileSync(log, 'utf8') === '' ? undefined : true), {
      timeoutMs: 5000,
      what: 'the shell to find its child stopped',
      intervalMs: 20,
    });
    expect(readFileSync(log, 'utf8')).toContain(`found ${nsPid(tree.watched)} stopped`);
  });
});
