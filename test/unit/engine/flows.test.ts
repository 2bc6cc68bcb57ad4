/**
 * The worker flow and the boot-restore flow, in-process, on a scripted runner and
 * a scratch host, with real processes as the sessions: the order and the effects
 * of their steps. Each test names the behaviour it guards.
 */
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
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
import { dirname, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';

import { runRestore } from '../../../src/engine/restore-run.js';
import { leftUnshipped, shipRun } from '../../../src/engine/ship.js';
import { runWorker, runWorkerAndShip } from '../../../src/engine/worker-run.js';
import { readHeldFiles } from '../../../src/state/held-files.js';
import { Journal } from '../../../src/state/journal.js';
import { leapLockPath } from '../../../src/state/leap-lock.js';
import { tryLock } from '../../../src/state/lock.js';
import { readManifest, writeManifest } from '../../../src/state/manifest.js';
import { readOutcome, writeOutcome } from '../../../src/state/outcome.js';
import { createOwnerOnly } from '../../../src/state/owner-only.js';
import {
  markPending,
  pendingPath,
  pendingRuns,
  restoringPath,
  takeOutOfPending,
} from '../../../src/state/pending.js';
import { listRuns, prunable } from '../../../src/state/runs.js';
import { PRE_SCRIPT, type WorkerOptions } from '../../../src/state/worker-input.js';
import { SESSION_ENDED_MARK } from '../../../src/steps/report/run-results.js';
import { RESTORED_PID_FILE } from '../../../src/steps/restore/script.js';
import { writeTakeScript } from '../../../src/steps/restore/take.js';
import { grubFiles } from '../../../src/tools/grub.js';
import type { HostPaths } from '../../../src/tools/host-paths.js';
import type { NetworkStackName } from '../../../src/tools/network-stack.js';
import { readStatus } from '../../../src/tools/proc-tasks.js';
import { liveProc } from '../../../src/tools/procfs.js';
import { waitUntil } from '../../../src/tools/wait.js';
import {
  type FakeSession,
  flagValue,
  flowContext,
  lockRulesSaved,
  NEW_KERNEL,
  NEWEST_KERNEL,
  OLD_KERNEL,
  readTrimmed,
  SCRATCH_BOOT_ID,
  scratchHost,
  ScriptedRunner,
  startSession,
  taskState,
  windowScalingPath,
  withNetworkStack,
} from '../../helpers/flow.js';
import { cpioArchive, x86KernelHead } from '../../helpers/initrd-fixture.js';

// Two CPUs, as the CI machine and the guests have: the other sessions are dumped two at a time.
vi.mock('node:os', async (original) => ({
  ...(await original<typeof import('node:os')>()),
  availableParallelism: () => 2,
}));

const UNITS = ['kernel-leap-rules.service', 'kernel-leap-restore.service'];
const sessions: FakeSession[] = [];
// Real processes on a loaded 2-core machine: a flow takes 1-2 s, more under load.
vi.setConfig({ testTimeout: 30_000 });
// As cli/main does first thing, for kernel-leap and every command it starts.
beforeAll(createOwnerOnly);
afterEach(() => {
  vi.restoreAllMocks();
  for (const s of sessions.splice(0)) s.end();
  endLaunches();
});

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // gone already
  }
}

async function session(holding?: string): Promise<FakeSession> {
  const s = await startSession(holding);
  sessions.push(s);
  return s;
}

/**
 * A runner scripted as a healthy machine: criu writes images (and a real dump ends
 * the tree, as criu's default does), kexec -l loads, the lock rules of the dumped
 * connections are in force from the dump on.
 */
function healthyMachine(
  host: HostPaths,
  dumped: FakeSession[],
): ScriptedRunner & { lock(s: FakeSession): void; launches: FakeLaunches } {
  // The lock rules in force, as `-A CHAIN ...` specs: criu adds them, iptables -D removes them.
  let inForce: string[] = [];
  const lock = (s: FakeSession) => {
    inForce.push(
      ...lockRulesSaved(s.local, s.peer)
        .split('\n')
        .filter((l) => l.includes('-A '))
        .map((l) => l.replace(/^\[\d+:\d+\] /, '')),
    );
  };
  const runner: ScriptedRunner = new ScriptedRunner()
    .on(['ss', '-xn'])
    // As Debian 12's /usr/lib/tmpfiles.d/tmp.conf: the boot empties /tmp.
    .on(['systemd-tmpfiles', '--cat-config'], () => ({ stdout: 'D /tmp 1777 root root -\n' }))
    .on(['criu', 'dump'], (argv) => {
      const dir = flagValue(argv, '-D') as string;
      const tree = flagValue(argv, '-t') as string;
      for (const image of ['inventory.img', 'pstree.img', 'files.img', `core-${tree}.img`])
        writeFileSync(join(dir, image), 'x');
      if (argv.includes('--leave-running')) return;
      // As criu's log ends after a dump that killed the tree.
      writeFileSync(flagValue(argv, '-o') as string, 'Dumping finished successfully\n');
      const s = dumped.find((d) => String(d.pid) === tree);
      if (s) lock(s);
      s?.end();
    })
    .on(['kexec', '-l'], () => writeFileSync(host.kexecLoaded, '1\n'))
    .on(['kexec', '-u'], () => writeFileSync(host.kexecLoaded, '0\n'))
    .on(['kexec', '-e'], () => jumpTo(host, runner.calls))
    .on(['/bin/sh'], () => {
      throw new Error('no other script expected');
    })
    .on(['systemctl', 'enable'])
    .on(['systemctl', 'disable'])
    .on(['systemctl', 'daemon-reload'])
    .on(['sync'])
    .on(['iptables-save', '-c'], () => ({
      stdout: ['*filter', ...inForce.map((spec) => `[0:0] ${spec}`), 'COMMIT', ''].join('\n'),
    }))
    .on(['iptables', '-w', '-t', 'filter', '-D'], (argv) => {
      const spec = `-A ${argv.slice(5).join(' ')}`;
      if (!inForce.includes(spec)) return { exitCode: 1 };
      inForce = inForce.filter((r) => r !== spec);
    });
  const launches = fakeLaunches(host);
  runsRestoreScripts(runner, launches);
  return Object.assign(withNetworkStack(runner, 'ifupdown'), { lock, launches });
}

/** What a jump leaves of the loaded kernel: its command line is the new boot's. */
function jumpTo(host: { procCmdline: string }, calls: readonly string[][]): void {
  const load = calls.filter((argv) => argv[0] === 'kexec' && argv[1] === '-l').at(-1) ?? [];
  writeFileSync(
    host.procCmdline,
    `${load.find((a) => a.startsWith('--command-line='))?.slice('--command-line='.length) ?? ''}\n`,
  );
}

/** A healthy machine holding these sessions, its context, and one upgrade run per session (the last one the caller's). */
function machineWith(sessions: FakeSession[]) {
  const host = scratchHost();
  const runner = healthyMachine(host, sessions);
  const ctx = flowContext(runner, host);
  const journals = sessions.map(() => Journal.create(ctx.stateDir, 'upgrade'));
  return { ctx, runner, journals, journal: journals.at(-1) as Journal };
}

function upgradeOptions(
  journal: Journal,
  s: FakeSession,
  extra: Partial<WorkerOptions> = {},
): WorkerOptions {
  return {
    runId: journal.runId,
    rootPid: s.pid,
    others: [],
    waitPid: undefined,
    callerPidNs: undefined,
    rehearse: true,
    exec: true,
    pre: undefined,
    kernel: undefined,
    mode: 'upgrade',
    dumpBoundMs: 60_000,
    ...extra,
  };
}

/** Two sessions of an --all-ssh on one machine: another's, then the caller's own, each with its run. */
async function twoSessions() {
  const [other, own] = [await session(), await session()];
  const {
    ctx,
    runner,
    journals: [otherRun, ownRun],
  } = machineWith([other, own]);
  if (!otherRun || !ownRun) throw new Error('two runs expected');
  return { other, own, ctx, runner, otherRun, ownRun };
}

/** Three sessions of an --all-ssh: two others, then the caller's own, each with its run, and the caller's worker options. */
async function threeSessions() {
  const [first, second, own] = [await session(), await session(), await session()];
  const {
    ctx,
    runner,
    journals: [firstRun, secondRun, ownRun],
  } = machineWith([first, second, own]);
  if (!firstRun || !secondRun || !ownRun) throw new Error('three runs expected');
  const leap = upgradeOptions(ownRun, own, {
    others: [
      { runId: firstRun.runId, rootPid: first.pid },
      { runId: secondRun.runId, rootPid: second.pid },
    ],
  });
  return { first, second, own, ctx, runner, firstRun, secondRun, ownRun, leap };
}

/** A worker run to the jump: kexec -e returns here, so it ends in KEXEC_RETURNED with the run pending. */
async function upgradeToJump(stack: NetworkStackName = 'ifupdown') {
  const s = await session();
  const { ctx, runner: machine, journal } = machineWith([s]);
  withNetworkStack(machine, stack);
  const atSync = { pending: [] as string[], rules: '' };
  machine.on(['sync'], () => {
    atSync.pending = pendingRuns(ctx.stateDir);
    atSync.rules = existsSync(join(ctx.stateDir, 'lock-rules.v4'))
      ? readFileSync(join(ctx.stateDir, 'lock-rules.v4'), 'utf8')
      : '';
  });
  await expect(runWorker(ctx, upgradeOptions(journal, s))).rejects.toMatchObject({
    code: 'KEXEC_RETURNED',
  });
  return { s, ctx, runner: machine, journal, atSync };
}

/** How one criu launch of the restore script goes here (fakeLaunches). */
type Launch = 'restored' | 'killed' | 'failed' | 'hung';

/**
 * criu's launch as the restore script makes it (`setsid systemd-run --scope …
 * criu restore`), here a stand-in systemd-run first on PATH, one launch per entry
 * of its plan (then restored). Each first runs criu's action script at
 * pre-restore, as criu does, and fails as criu would if it exits non-zero. Then
 * restored becomes the launcher of a fake tree (its
 * child criu, whose child is the root, stopped as --leave-stopped leaves it) and writes the pid file as criu's action
 * script would; killed ends as a criu killed mid-restore leaves it (a log with no
 * error); failed, with an error in its log; hung never resumes the tasks. Each
 * launch notes its argv, and window scaling and its saved value as it met them.
 */
function fakeLaunches(host: HostPaths) {
  const bin = mkdtempSync(join(tmpdir(), 'kl-launch-'));
  const fake = join(bin, 'systemd-run');
  writeFileSync(`${fake}.plan`, '');
  const saved = join(host.savedSysctls, 'net.ipv4.tcp_window_scaling');
  const script = [
    '#!/bin/sh',
    'n=$(($(cat "$0.n" 2>/dev/null || echo 0) + 1)); echo $n > "$0.n"',
    'echo $$ > "$0.pid.$n"',
    'for a; do printf \'%s\\0\' "$a"; done > "$0.argv.$n"',
    `{ cat '${windowScalingPath(host)}'; cat '${saved}' 2>/dev/null || echo -; } > "$0.seen.$n"`,
    'prev=; for a; do case $prev in -o) log=$a ;; --action-script) action=$a; pids=${a%/*}/restored-pid ;; esac; prev=$a; done',
    // As criu does before it restores anything: a non-zero exit aborts the restore.
    'CRTOOLS_SCRIPT_ACTION=pre-restore sh "$action" || { echo "(00.012345) Error (criu/cr-restore.c:2000): Aborting restore due to pre-restore script ret code 1" > "$log"; exit 1; }',
    'how=$(sed -n "${n}p" "$0.plan")',
    'case ${how:-restored} in',
    '  killed) echo \'(00.012345) Restoring images\' > "$log"; exit 1 ;;',
    '  failed) echo \'(00.012345) Error (criu/image.c:123): Unable to open core-1.img\' > "$log"; exit 1 ;;',
    '  hung) sleep 600 & echo $! > "$0.child"; wait; exit 1 ;;',
    'esac',
    'sh -c "sleep 600 & wait" & criu=$!',
    'until root=$(cat /proc/$criu/task/$criu/children 2>/dev/null) && [ -n "$root" ]; do sleep 0.02; done',
    // As criu --leave-stopped: the tree stays stopped until the resume.
    'kill -STOP $root',
    'echo $root > "$pids"',
    'wait',
  ];
  writeFileSync(fake, `${script.join('\n')}\n`, { mode: 0o755 });
  launchBins.push(bin);
  const count = () => (existsSync(`${fake}.n`) ? Number(readTrimmed(`${fake}.n`)) : 0);
  const each = <T>(read: (n: number) => T) =>
    Array.from({ length: count() }, (_, i) => read(i + 1));
  return {
    env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}` },
    plan: (...hows: Launch[]) => writeFileSync(`${fake}.plan`, hows.map((h) => `${h}\n`).join('')),
    /** The argv each launch got, in order. */
    calls: () => each((n) => readFileSync(`${fake}.argv.${n}`, 'utf8').split('\0').slice(0, -1)),
    /** Window scaling, and its saved value ('-' for none), as each launch met them. */
    seen: () => each((n) => readFileSync(`${fake}.seen.${n}`, 'utf8').split('\n').slice(0, 2)),
    /** A hung launch's child, which must be gone with its group. */
    hungChild: () => Number(readTrimmed(`${fake}.child`)),
    launchers: () => each((n) => Number(readTrimmed(`${fake}.pid.${n}`))),
  };
}
type FakeLaunches = ReturnType<typeof fakeLaunches>;

/** Every fake launch's process group ends with its test. */
const launchBins: string[] = [];
function endLaunches(): void {
  for (const bin of launchBins.splice(0))
    for (const name of readdirSync(bin).filter((f) => f.startsWith('systemd-run.pid.')))
      killGroup(Number(readTrimmed(join(bin, name))));
}

/**
 * The scripts Node renders and runs, run for real by /bin/sh: the take of the
 * runs still pending at boot (no restore-boot.sh runs here, so Node's restore
 * takes them), the restore script (restore-node.sh) with the fake launches, and
 * the resume of their trees.
 */
function runsRestoreScripts(runner: ScriptedRunner, launches: FakeLaunches): void {
  const other = runner.handlerFor(['/bin/sh']);
  runner.on(['/bin/sh'], (argv, request) => {
    if (!/\/(take-pending|restore-node|resume-trees)\.sh$/.test(argv[1] ?? ''))
      return other(argv, request);
    const result = spawnSync(argv[0] as string, argv.slice(1), {
      env: { ...launches.env, ...request.env },
      encoding: 'utf8',
      timeout: 60_000,
    });
    return { exitCode: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
  });
}

/** Each run of the restore script Node rendered. */
function nodeScriptRuns(runner: ScriptedRunner): string[][] {
  return runner.callsOf(['/bin/sh']).filter((argv) => argv[1]?.endsWith('/restore-node.sh'));
}

/** The take (templates/take-pending.sh.hbs) as restore-boot.sh runs it on the boot procBootId names; what it took. */
function takeAtBoot(stateDir: string, procBootId: string): string {
  const take = spawnSync('/bin/sh', [writeTakeScript(stateDir, { procBootId })], {
    encoding: 'utf8',
  });
  expect(take.stderr).toBe('');
  expect(take.status).toBe(0);
  return take.stdout;
}

/** The take as an earlier boot, cut short since, ran it. */
function takeAtEarlierBoot(stateDir: string): void {
  const procBootId = join(mkdtempSync(join(tmpdir(), 'kl-earlier-boot-')), 'boot_id');
  writeFileSync(procBootId, 'an-earlier-boot\n');
  takeAtBoot(stateDir, procBootId);
}

/**
 * Runs the run's restore-fast.sh as restore-boot.sh would (but under umask 022),
 * with the machine's fake launches. `before` is shell run first, in the same environment.
 */
function runFastScript(runDir: string, launches: FakeLaunches, before = ':') {
  return spawnSync(
    'sh',
    ['-c', `umask 022\n${before}\nexec sh "$0"`, join(runDir, 'restore-fast.sh')],
    { env: launches.env, encoding: 'utf8', timeout: 30_000 },
  );
}

/** The other ssh connection closes as criu seizes it, in its rehearsal or its dump: criu fails on its vanished root. */
function endsUnderCriu(
  runner: ScriptedRunner,
  other: FakeSession,
  stage: 'rehearsal' | 'dump',
): void {
  const healthyDump = runner.handlerFor(['criu', 'dump']);
  runner.on(['criu', 'dump'], (argv, request) => {
    if (
      argv.includes('--leave-running') !== (stage === 'rehearsal') ||
      flagValue(argv, '-t') !== String(other.pid)
    )
      return healthyDump(argv, request);
    other.end();
    return { exitCode: 1, stderr: `Unable to detach from ${other.pid}: No such process` };
  });
}

describe('the upgrade worker flow', () => {
  it('loads the newest installed kernel that is not running (behaviour 4), with the running command line naming the run', async () => {
    const { runner, ctx, journal } = await upgradeToJump();
    const load = runner.callsOf(['kexec', '-l'])[0];
    expect(load?.[2]).toBe(join(ctx.host.boot, `vmlinuz-${NEWEST_KERNEL}`));
    expect(load).toContain(`--initrd=${join(ctx.host.boot, `initrd.img-${NEWEST_KERNEL}`)}`);
    expect(load).toContain(
      `--command-line=root=/dev/vda1 ro console=ttyS0 panic=10 kernel_leap.run=${journal.runId}`,
    );
  });

  it('installs and enables both boot units before the freeze (behaviour 6)', async () => {
    const { runner, ctx } = await upgradeToJump();
    const enable = runner.indexOf(['systemctl', 'enable', '--quiet', ...UNITS]);
    expect(enable).toBeGreaterThan(-1);
    expect(enable).toBeLessThan(runner.lastIndexOf(['criu', 'dump']));
    for (const unit of UNITS) expect(existsSync(join(ctx.host.unitDir, unit))).toBe(true);
    expect(existsSync(ctx.host.ifupdownHook)).toBe(true);
  });

  it.each(['systemd-networkd', 'NetworkManager'] as const)(
    'with %s bringing the interfaces up, installs the units but no ifupdown hook',
    async (stack) => {
      const { ctx, journal } = await upgradeToJump(stack);
      for (const unit of UNITS) expect(existsSync(join(ctx.host.unitDir, unit))).toBe(true);
      expect(existsSync(ctx.host.ifupdownHook)).toBe(false);
      expect(
        Journal.open(ctx.stateDir, journal.runId).phase('plan').outputs?.networkStacks,
      ).toEqual([{ name: stack, interfaces: ['eth0'] }]);
    },
  );

  it('rehearses, then dumps, marks the run pending, saves the lock rules, syncs, and only then jumps (behaviour 7)', async () => {
    const { runner, journal, atSync, s } = await upgradeToJump();
    const dumps = runner.callsOf(['criu', 'dump']);
    expect(dumps.map((argv) => argv.includes('--leave-running'))).toEqual([true, false]);
    const sync = runner.indexOf(['sync']);
    expect(sync).toBeGreaterThan(runner.lastIndexOf(['criu', 'dump']));
    expect(sync).toBeLessThan(runner.indexOf(['kexec', '-e']));
    expect(atSync.pending).toEqual([journal.runId]);
    expect(atSync.rules).toContain(
      `-I INPUT 1 -s 127.0.0.1/32 -d 127.0.0.1/32 -p tcp -m tcp --sport ${s.peer.port} --dport ${s.local.port}`,
    );
    expect(journal.phase('kexec').status).toBe('pending');
    expect(
      Journal.open(journal.paths.dir.replace(/\/runs\/.*$/, ''), journal.runId).phase('kexec')
        .status,
    ).toBe('running');
  });

  it('after a failed dump, continues the tasks criu left stopped, drops their lock rules and unwinds the boot (behaviour 3)', async () => {
    const s = await session();
    const { ctx, runner, journal } = machineWith([s]);
    let reserveDuringDump = false;
    runner.on(['criu', 'dump'], async (argv) => {
      if (argv.includes('--leave-running')) {
        for (const image of ['inventory.img', 'pstree.img', 'files.img', `core-${s.pid}.img`])
          writeFileSync(join(flagValue(argv, '-D') as string, image), 'x');
        return;
      }
      // Held while criu writes the images, for the records of a failure on a full disk.
      reserveDuringDump = existsSync(join(journal.paths.dir, 'reserve'));
      // As criu leaves them when it fails: stopped, which a signal is only once the task has taken it.
      process.kill(s.pid, 'SIGSTOP');
      await waitUntil(() => taskState(s.pid) === 'T', 5000, 'the session to stop', '');
      runner.lock(s);
      writeFileSync(
        flagValue(argv, '-o') as string,
        '(00.5) Error (criu/cr-dump.c:1234): Dumping FAILED.\n',
      );
      return { exitCode: 1 };
    });
    await waitUntil(() => taskState(s.pid) === 'S', 5000, 'the session to sleep', '');
    await expect(runWorker(ctx, upgradeOptions(journal, s))).rejects.toMatchObject({
      code: 'CRIU_DUMP_FAILED',
    });
    expect(taskState(s.pid)).not.toBe('T');
    expect(runner.callsOf(['iptables', '-w', '-t', 'filter', '-D'])).toHaveLength(2);
    expect(readOutcome(journal.paths.dir)).toBe('dump-failed');
    expect(existsSync(pendingPath(ctx.stateDir))).toBe(false);
    expect(runner.indexOf(['kexec', '-u'])).toBeGreaterThan(-1);
    expect(runner.indexOf(['systemctl', 'disable', '--quiet', ...UNITS])).toBeGreaterThan(-1);
    for (const unit of UNITS) expect(existsSync(join(ctx.host.unitDir, unit))).toBe(false);
    expect(runner.indexOf(['kexec', '-e'])).toBe(-1);
    expect(reserveDuringDump).toBe(true);
    expect(existsSync(join(journal.paths.dir, 'reserve'))).toBe(false);
  });

  it("with --all-ssh, dumps the other sessions first and the caller's own last (behaviour 9)", async () => {
    const { other, own, ctx, runner, otherRun, ownRun } = await twoSessions();
    await expect(
      runWorker(
        ctx,
        upgradeOptions(ownRun, own, { others: [{ runId: otherRun.runId, rootPid: other.pid }] }),
      ),
    ).rejects.toMatchObject({ code: 'KEXEC_RETURNED' });
    const dumped = runner
      .callsOf(['criu', 'dump'])
      .filter((argv) => !argv.includes('--leave-running'))
      .map((argv) => Number(flagValue(argv, '-t')));
    expect(dumped).toEqual([other.pid, own.pid]);
    expect(pendingRuns(ctx.stateDir)).toEqual([otherRun.runId, ownRun.runId]);
  });

  it("with --all-ssh, dumps the other sessions side by side, one a CPU, and the caller's own last, alone; they wait for the boot in dump order", async () => {
    const { first, second, own, ctx, runner, firstRun, secondRun, ownRun, leap } =
      await threeSessions();
    const dump = runner.handlerFor(['criu', 'dump']);
    const events: string[] = [];
    runner.on(['criu', 'dump'], async (argv, request) => {
      const tree = Number(flagValue(argv, '-t'));
      const name = { [first.pid]: 'first', [second.pid]: 'second', [own.pid]: 'own' }[tree];
      if (argv.includes('--leave-running')) return dump(argv, request);
      events.push(`${name} starts`);
      // The first other's dump is the longer: it ends after the second's.
      await delay(name === 'first' ? 200 : 20);
      events.push(`${name} ends`);
      return dump(argv, request);
    });
    await expect(runWorker(ctx, leap)).rejects.toMatchObject({ code: 'KEXEC_RETURNED' });
    expect(events).toEqual([
      'first starts',
      'second starts',
      'second ends',
      'first ends',
      'own starts',
      'own ends',
    ]);
    expect(pendingRuns(ctx.stateDir)).toEqual([firstRun.runId, secondRun.runId, ownRun.runId]);
  });

  it.each(['rehearsal', 'dump'] as const)(
    'with --all-ssh, a session that ended during its %s is not carried, and the others go on',
    async (stage) => {
      const { other, own, ctx, runner, otherRun, ownRun } = await twoSessions();
      endsUnderCriu(runner, other, stage);
      await expect(
        runWorker(
          ctx,
          upgradeOptions(ownRun, own, { others: [{ runId: otherRun.runId, rootPid: other.pid }] }),
        ),
      ).rejects.toMatchObject({ code: 'KEXEC_RETURNED' });
      expect(readOutcome(otherRun.paths.dir)).toBe('aborted');
      expect(Journal.open(ctx.stateDir, otherRun.runId).snapshot.marks).toHaveProperty(
        SESSION_ENDED_MARK,
      );
      expect(existsSync(otherRun.paths.images)).toBe(false);
      expect(pendingRuns(ctx.stateDir)).toEqual([ownRun.runId]);
      expect(runner.indexOf(['kexec', '-e'])).toBeGreaterThan(-1);
    },
  );
});

describe('the logs of a run that ends on this boot', () => {
  it("ship for every session of an --all-ssh rehearsal, not only the caller's: no restore will", async () => {
    const { other, own, ctx, runner, otherRun, ownRun } = await twoSessions();
    runner.on(['dmesg'], () => ({ stdout: 'dmesg\n' }));
    const options = upgradeOptions(ownRun, own, {
      mode: 'rehearse',
      others: [{ runId: otherRun.runId, rootPid: other.pid }],
    });
    expect(await runWorkerAndShip(ctx, options)).toBe(0);
    for (const run of [otherRun, ownRun]) {
      expect(readOutcome(run.paths.dir)).toBe('rehearsed');
      expect(Journal.open(ctx.stateDir, run.runId).snapshot.phases.upload.status).not.toBe(
        'pending',
      );
      expect(existsSync(join(run.paths.dir, 'report.json'))).toBe(true);
    }
  });

  it('ship at the next boot for a session of an --all-ssh leap that ended before its dump: the worker jumped instead', async () => {
    const { other, own, ctx, runner, otherRun, ownRun } = await twoSessions();
    runner.on(['dmesg'], () => ({ stdout: 'dmesg\n' }));
    endsUnderCriu(runner, other, 'rehearsal');
    const options = upgradeOptions(ownRun, own, {
      others: [{ runId: otherRun.runId, rootPid: other.pid }],
    });
    // runWorker alone: a real jump never returns to the shipping after it.
    await expect(runWorker(ctx, options)).rejects.toMatchObject({ code: 'KEXEC_RETURNED' });
    // Seen in the 7-session bench: `runs --wait` waited for it ("aborted, shipping its logs").
    expect(leftUnshipped(ctx.stateDir)).toEqual([otherRun.runId]);
    await shipRun(ctx, otherRun.runId);
    expect(existsSync(join(otherRun.paths.dir, 'report.json'))).toBe(true);
    expect(leftUnshipped(ctx.stateDir)).toEqual([]);
  });
});

/** How the worker runs --pre: sh reading the caller's run's pre.sh. */
const preRun = (journal: Journal) => ['/bin/sh', join(journal.paths.dir, PRE_SCRIPT)];

describe('the target kernel with --pre and no --kernel', () => {
  const INSTALLED_BY_PRE = '6.1.0-58-cloud-amd64';

  it('is the newest kernel installed once --pre ran, checked and loaded, and the journal says why', async () => {
    const s = await session();
    const { ctx, runner, journal } = machineWith([s]);
    runner.on(preRun(journal), () => {
      writeFileSync(join(ctx.host.boot, `vmlinuz-${INSTALLED_BY_PRE}`), x86KernelHead());
      writeFileSync(
        join(ctx.host.boot, `initrd.img-${INSTALLED_BY_PRE}`),
        cpioArchive({ init: '' }),
      );
    });
    await expect(
      runWorker(ctx, upgradeOptions(journal, s, { pre: 'apt-get -y full-upgrade' })),
    ).rejects.toMatchObject({ code: 'KEXEC_RETURNED' });
    expect(runner.callsOf(['kexec', '-l'])[0]?.[2]).toBe(
      join(ctx.host.boot, `vmlinuz-${INSTALLED_BY_PRE}`),
    );
    expect(runner.indexOf(preRun(journal))).toBeLessThan(runner.indexOf(['kexec', '-l']));
    // sh reads the --pre from a root-only file: no command line, which every user reads, holds it.
    expect(runner.calls.flat().some((arg) => arg.includes('full-upgrade'))).toBe(false);
    const script = join(journal.paths.dir, PRE_SCRIPT);
    expect(readFileSync(script, 'utf8')).toBe('apt-get -y full-upgrade\n');
    expect(statSync(script).mode & 0o777).toBe(0o600);
    const load = Journal.open(ctx.stateDir, journal.runId).phase('load').outputs;
    expect(load).toMatchObject({ to: INSTALLED_BY_PRE, why: 'newest installed after --pre' });
  });

  it('is refused when the --pre installed a kernel that is not one: a no-go, nothing dumped, the session running', async () => {
    const s = await session();
    const { ctx, runner, journal } = machineWith([s]);
    runner.on(preRun(journal), () => {
      writeFileSync(join(ctx.host.boot, `vmlinuz-${INSTALLED_BY_PRE}`), 'not a kernel');
      writeFileSync(
        join(ctx.host.boot, `initrd.img-${INSTALLED_BY_PRE}`),
        cpioArchive({ init: '' }),
      );
    });
    await expect(
      runWorker(ctx, upgradeOptions(journal, s, { pre: 'apt-get -y full-upgrade' })),
    ).rejects.toMatchObject({ code: 'KERNEL_NOT_BOOTABLE', exit: 3 });
    expect(runner.indexOf(['kexec', '-l'])).toBe(-1);
    expect(readOutcome(journal.paths.dir)).toBe('no-go');
    expect(taskState(s.pid)).toBe('S');
  });

  it('with none newer before or after the --pre, ends in a no-go that names the --pre, before any freeze', async () => {
    const s = await session();
    const { ctx, runner, journal } = machineWith([s]);
    for (const version of [NEW_KERNEL, NEWEST_KERNEL])
      for (const file of [`vmlinuz-${version}`, `initrd.img-${version}`])
        rmSync(join(ctx.host.boot, file));
    runner.on(preRun(journal));
    await expect(
      runWorker(ctx, upgradeOptions(journal, s, { pre: 'apt-get -y full-upgrade' })),
    ).rejects.toMatchObject({
      code: 'KERNEL_NONE_NEWER',
      exit: 3,
      message: expect.stringContaining('after --pre'),
    });
    const dumps = runner.callsOf(['criu', 'dump']);
    expect(dumps.every((argv) => argv.includes('--leave-running'))).toBe(true);
    expect(readOutcome(journal.paths.dir)).toBe('no-go');
    expect(existsSync(pendingPath(ctx.stateDir))).toBe(false);
    expect(taskState(s.pid)).toBe('S');
  });

  it('named by --kernel, stays that kernel whatever the --pre installed', async () => {
    const s = await session();
    const { ctx, runner, journal } = machineWith([s]);
    runner.on(preRun(journal), () => {
      writeFileSync(join(ctx.host.boot, `vmlinuz-${INSTALLED_BY_PRE}`), x86KernelHead());
      writeFileSync(join(ctx.host.boot, `initrd.img-${INSTALLED_BY_PRE}`), cpioArchive({}));
    });
    await expect(
      runWorker(ctx, upgradeOptions(journal, s, { pre: 'true', kernel: NEW_KERNEL })),
    ).rejects.toMatchObject({ code: 'KEXEC_RETURNED' });
    expect(runner.callsOf(['kexec', '-l'])[0]?.[2]).toBe(
      join(ctx.host.boot, `vmlinuz-${NEW_KERNEL}`),
    );
    expect(Journal.open(ctx.stateDir, journal.runId).phase('load').outputs?.why).toBe(
      'named by --kernel',
    );
  });
});

describe('the boot-restore flow', () => {
  it('waits for the rules and the addresses, restores with window scaling off, unlocks, then cleans up the boot (behaviours 1, 2, 8)', async () => {
    const { ctx, journal, runner } = await upgradeToJump();
    writeFileSync(ctx.host.rulesMarker, '');
    const before = runner.calls.length;
    const { code } = await runRestore(ctx, { runId: undefined, boot: true });
    expect(code).toBe(0);
    expect(readOutcome(journal.paths.dir)).toBe('restored');
    // 1: the pending mark is consumed, so no later boot restores this run again: no
    // restore-boot.sh ran here, so Node ran the take itself, before the restore.
    expect(existsSync(pendingPath(ctx.stateDir))).toBe(false);
    const shells = runner.calls.slice(before).filter((argv) => argv[0] === '/bin/sh');
    expect(shells[0]?.[1]).toBe(join(ctx.stateDir, 'take-pending.sh'));
    expect(shells[1]?.[1]).toMatch(/\/restore-node\.sh$/);
    // 8: scaling off while criu creates the sockets, and back on after; saved for the unit's
    // ExecStopPost= while it was changed, in case the restore were killed; gone after.
    expect(runner.launches.seen()).toEqual([['0', '1']]);
    expect(readTrimmed(windowScalingPath(ctx.host))).toBe('1');
    expect(readdirSync(ctx.host.savedSysctls)).toEqual([]);
    // 2: the units disabled and removed, the rules file gone; systemd not reloaded, since that would
    // load the running restore unit as not-found, with the default 90 s start timeout, and kill it.
    const boot = runner.calls.slice(before);
    const disable = boot.findIndex(
      (argv) => argv.join(' ') === `systemctl disable --no-reload --quiet ${UNITS.join(' ')}`,
    );
    expect(disable).toBeGreaterThan(boot.findIndex((argv) => argv[0] === '/bin/sh'));
    expect(boot.some((argv) => argv.join(' ') === 'systemctl daemon-reload')).toBe(false);
    for (const unit of UNITS) expect(existsSync(join(ctx.host.unitDir, unit))).toBe(false);
    expect(existsSync(join(ctx.stateDir, 'lock-rules.v4'))).toBe(false);
    // The connection's lock rules, left in force by the dump, are gone once the session is back.
    expect(
      boot.filter((argv) => argv.slice(0, 5).join(' ') === 'iptables -w -t filter -D'),
    ).toHaveLength(2);
    expect(existsSync(ctx.host.ifupdownHook)).toBe(false);
    expect(Journal.open(ctx.stateDir, journal.runId).phase('cleanup').status).toBe('done');
  });

  it("carries on from restore-fast.sh, which ran criu's launch before Node: no second launch, its marks kept, window scaling put back", async () => {
    const { ctx, journal, runner } = await upgradeToJump();
    writeFileSync(ctx.host.rulesMarker, '');
    // As restore-boot.sh does: the take, then the run's restore-fast.sh; Node only reads what the take left.
    expect(takeAtBoot(ctx.stateDir, ctx.host.procBootId)).toBe(`${journal.runId}\n`);
    const fast = runFastScript(journal.paths.dir, runner.launches);
    expect(fast.status).toBe(0);
    expect(readTrimmed(windowScalingPath(ctx.host))).toBe('1');
    expect(readdirSync(ctx.host.savedSysctls)).toEqual([]);
    const record = readFileSync(join(journal.paths.dir, 'fast-restore'), 'utf8');
    expect(record).toMatch(/^outcome=restored$/m);
    // Its record, and the pid file criu's action script (here the stand-in) writes as its child.
    for (const file of ['fast-restore', RESTORED_PID_FILE])
      expect(statSync(join(journal.paths.dir, file)).mode & 0o777, file).toBe(0o600);
    const { code } = await runRestore(ctx, { runId: undefined, boot: true });
    expect(code).toBe(0);
    expect(runner.launches.calls()).toHaveLength(1);
    expect(nodeScriptRuns(runner)).toHaveLength(0);
    expect(runner.calls.some((argv) => argv[1]?.endsWith('/take-pending.sh'))).toBe(false);
    const after = Journal.open(ctx.stateDir, journal.runId);
    const restoredAt = Number(/^mark\.restored=(\d+)$/m.exec(record)?.[1]);
    expect(Date.parse(after.snapshot.marks.restored ?? '')).toBe(restoredAt);
    expect(Date.parse(after.snapshot.marks.restoreUnitStart ?? '')).toBe(
      Number(/^mark\.restoreUnitStart=(\d+)$/m.exec(record)?.[1]),
    );
    // criu's own unlock left nothing (the fake rules are gone from iptables): open since the tasks resumed.
    expect(after.phase('restore').outputs).toMatchObject({
      criuPid: expect.any(Number),
      rootPidHost: expect.any(Number),
      ptyRemaps: [],
    });
    expect(readOutcome(journal.paths.dir)).toBe('restored');
    expect(after.phase('cleanup').status).toBe('done');
    // restore-boot.sh did not resume (it ran no resume here): Node did, after its last run, before its cleanup.
    const root = (after.phase('restore').outputs as { rootPidHost: number }).rootPidHost;
    expect(readStatus(liveProc, root)?.state).not.toBe('T');
    expect(runner.launches.calls()[0]).toContain('--leave-stopped');
    const resumed = Date.parse(after.snapshot.marks.resumed ?? '');
    expect(resumed).toBeGreaterThanOrEqual(restoredAt);
  });

  it('restore-fast.sh waits out a gate on the time since boot: a wall clock stepped an hour at each reading does not end the wait', async () => {
    const { ctx, journal, runner } = await upgradeToJump();
    const bin = mkdtempSync(join(tmpdir(), 'kl-clock-'));
    // Each `date` reads an hour later than the one before, as NTP steps at boot can.
    writeFileSync(
      join(bin, 'date'),
      `#!/bin/sh\nn=$(cat '${bin}/n' 2>/dev/null || echo 0); echo $((n + 1)) > '${bin}/n'\nexec /bin/date -d "@$(($(/bin/date +%s) + n * 3600))" "$@"\n`,
      { mode: 0o755 },
    );
    // The rules come in a moment after the script starts waiting for them.
    const fast = runFastScript(
      journal.paths.dir,
      runner.launches,
      `PATH='${bin}':$PATH; export PATH; (sleep 0.5; : > '${ctx.host.rulesMarker}') &`,
    );
    const record = readFileSync(join(journal.paths.dir, 'fast-restore'), 'utf8');
    expect(record).not.toMatch(/^gaveUp=/m);
    expect(record).toMatch(/^outcome=restored$/m);
    expect(fast.status).toBe(0);
  });

  it('kills a criu restore that outlives its bound, with its whole launch, before calling the run failed and putting window scaling back', async () => {
    const { ctx, journal, runner } = await upgradeToJump();
    writeFileSync(ctx.host.rulesMarker, '');
    writeManifest(journal.paths.dir, { ...readManifest(journal.paths.dir), restoreTimeoutS: 1 });
    // A criu that never resumes the tasks: its launch, and a child of it, run on.
    runner.launches.plan('hung');
    expect((await runRestore(ctx, { runId: undefined, boot: true })).code).toBe(8);
    expect(runner.launches.seen()).toEqual([['0', '1']]);
    // Nothing of its process group runs (a zombie waits only for its parent to reap it).
    const group = spawnSync('ps', ['-o', 'stat=', '-g', String(runner.launches.launchers()[0])], {
      encoding: 'utf8',
    });
    expect(group.stdout.split('\n').filter((stat) => /^[^Z\s]/.test(stat))).toEqual([]);
    expect(taskState(runner.launches.hungChild()) ?? 'gone').toMatch(/^(gone|Z)$/);
    expect(readTrimmed(windowScalingPath(ctx.host))).toBe('1');
    expect(readOutcome(journal.paths.dir)).toBe('failed');
    expect(Journal.open(ctx.stateDir, journal.runId).phase('restore').status).toBe('failed');
  });

  it("takes up a criu restore-fast.sh killed past its bound: the run fails with criu's timeout, with no second launch", async () => {
    const { ctx, journal, runner } = await upgradeToJump();
    writeFileSync(ctx.host.rulesMarker, '');
    const script = join(journal.paths.dir, 'restore-fast.sh');
    writeFileSync(
      script,
      readFileSync(script, 'utf8').replace(/^RESTORE_TIMEOUT_S=.*$/m, 'RESTORE_TIMEOUT_S=1'),
    );
    runner.launches.plan('hung');
    expect(runFastScript(journal.paths.dir, runner.launches).status).toBe(1);
    const record = readFileSync(join(journal.paths.dir, 'fast-restore'), 'utf8');
    expect(record).toMatch(/^outcome=timeout$/m);
    expect(taskState(runner.launches.hungChild()) ?? 'gone').toMatch(/^(gone|Z)$/);
    expect(readTrimmed(windowScalingPath(ctx.host))).toBe('1');
    expect((await runRestore(ctx, { runId: undefined, boot: true })).code).toBe(8);
    expect(runner.launches.calls()).toHaveLength(1);
    expect(Journal.open(ctx.stateDir, journal.runId).phase('restore').error?.code).toBe(
      'CRIU_RESTORE_FAILED',
    );
  });

  it("takes up a criu that restore-fast.sh saw killed: started once more by Node, the killed one's log kept", async () => {
    const { ctx, journal, runner } = await upgradeToJump();
    writeFileSync(ctx.host.rulesMarker, '');
    runner.launches.plan('killed');
    expect(runFastScript(journal.paths.dir, runner.launches).status).toBe(1);
    expect(readFileSync(join(journal.paths.dir, 'fast-restore'), 'utf8')).toMatch(
      /^outcome=ended$/m,
    );
    expect((await runRestore(ctx, { runId: undefined, boot: true })).code).toBe(0);
    expect(runner.launches.calls()).toHaveLength(2);
    expect(nodeScriptRuns(runner)).toHaveLength(1);
    expect(Journal.open(ctx.stateDir, journal.runId).snapshot.changes.map((c) => c.kind)).toContain(
      'restore-again',
    );
  });

  it("fails at once on a gate restore-fast.sh timed out on, with the gate's own error, and leaves none of the run's lock rules", async () => {
    const { ctx, journal, runner } = await upgradeToJump();
    const before = runner.calls.length;
    writeFileSync(ctx.host.rulesMarker, '');
    writeFileSync(
      join(journal.paths.dir, 'fast-restore'),
      `boot=${SCRATCH_BOOT_ID}\nmark.restoreUnitStart=${Date.now()}\nmark.gate.devpts=${Date.now()}\nmark.gate.rules=${Date.now()}\ngaveUp=gate.addresses\n`,
    );
    const started = Date.now();
    expect((await runRestore(ctx, { runId: undefined, boot: true })).code).toBe(8);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(Journal.open(ctx.stateDir, journal.runId).phase('restore').error).toMatchObject({
      code: 'GATE_TIMEOUT',
      message: expect.stringMatching(/timed out after \d+ s waiting for local addresses/),
    });
    expect(runner.launches.calls()).toEqual([]);
    // The boot loaded the connection's two lock rules before the network: they go with the failure.
    expect(
      runner.calls
        .slice(before)
        .filter((argv) => argv.slice(0, 5).join(' ') === 'iptables -w -t filter -D'),
    ).toHaveLength(2);
    expect(readOutcome(journal.paths.dir)).toBe('failed');
  });

  it("after restore-fast.sh found a dumped pty taken, runs the script again itself past the remap: the boot's gate marks kept", async () => {
    const { ctx, journal, runner } = await upgradeToJump();
    writeFileSync(ctx.host.rulesMarker, '');
    const at = Date.now() - 60_000;
    writeFileSync(
      join(journal.paths.dir, 'fast-restore'),
      `boot=${SCRATCH_BOOT_ID}\nmark.restoreUnitStart=${at}\nmark.gate.devpts=${at}\nmark.gate.rules=${at}\nmark.gate.addresses=${at}\ngaveUp=pty-taken\n`,
    );
    expect((await runRestore(ctx, { runId: undefined, boot: true })).code).toBe(0);
    expect(runner.launches.calls()).toHaveLength(1);
    const marks = Journal.open(ctx.stateDir, journal.runId).snapshot.marks;
    for (const gate of ['gate.devpts', 'gate.rules', 'gate.addresses'])
      expect(Date.parse(marks[gate] ?? ''), gate).toBe(at);
    expect(Date.parse(marks.restoreStart ?? '')).toBeGreaterThan(at + 30_000);
    // Node's own rendering checks no pty: it has remapped the taken ones.
    expect(readFileSync(join(journal.paths.dir, 'restore-node.sh'), 'utf8')).toMatch(
      /^ptys_free\(\) \{ for n in; do/m,
    );
  });

  it("makes a socket directory the boot removed, and names it in the restore's output", async () => {
    const { ctx, journal } = await upgradeToJump();
    writeFileSync(ctx.host.rulesMarker, '');
    const tmp = mkdtempSync(join(tmpdir(), 'kl-sockets-'));
    const dir = join(tmp, 'tmux-0');
    const manifest = readManifest(journal.paths.dir);
    writeManifest(journal.paths.dir, {
      ...manifest,
      socketDirs: [{ path: dir, mode: 0o40700, uid: 0, gid: 0 }],
    });
    expect((await runRestore(ctx, { runId: undefined, boot: true })).code).toBe(0);
    expect(statSync(dir).mode & 0o7777).toBe(0o700);
    expect(Journal.open(ctx.stateDir, journal.runId).phase('restore').outputs?.socketDirs).toEqual([
      dir,
    ]);
  });

  it('does not restore a tree whose FIFO path is something else now: the error names the path, escaped, and the images stay', async () => {
    const { ctx, journal, runner } = await upgradeToJump();
    writeFileSync(ctx.host.rulesMarker, '');
    const tmp = mkdtempSync(join(tmpdir(), 'kl-fifos-'));
    const path = join(tmp, 'ctl\u001b[2J');
    writeFileSync(path, 'not a fifo\n');
    const manifest = readManifest(journal.paths.dir);
    writeManifest(journal.paths.dir, {
      ...manifest,
      fifos: [{ path, mode: 0o10600, uid: 0, gid: 0, key: 'file[af:2aa]', fd: 3 }],
    });
    expect((await runRestore(ctx, { runId: undefined, boot: true })).code).toBe(8);
    expect(runner.launches.calls()).toEqual([]);
    expect(readFileSync(path, 'utf8')).toBe('not a fifo\n');
    const error = Journal.open(ctx.stateDir, journal.runId).phase('restore').error;
    expect(error).toMatchObject({
      code: 'RESTORE_PATH_REFUSED',
      message: expect.stringContaining(
        `FIFO ${join(tmp, 'ctl\\x1b[2J')}, of uid 0 gid 0 is not what the dump left`,
      ),
    });
    expect(readOutcome(journal.paths.dir)).toBe('failed');
    expect(readdirSync(journal.paths.images).length).toBeGreaterThan(0);
  });

  it('does not restore a tree whose file held by path is another now: the error names the path, escaped, and no criu runs', async () => {
    const { ctx, journal, runner } = await upgradeToJump();
    writeFileSync(ctx.host.rulesMarker, '');
    const tmp = mkdtempSync(join(tmpdir(), 'kl-files-'));
    const path = join(tmp, 'notes\u001b[2J');
    writeFileSync(path, 'twelve bytes');
    const { dev, ino } = statSync(path);
    const manifest = readManifest(journal.paths.dir);
    writeManifest(journal.paths.dir, { ...manifest, reopenedFiles: [{ path, dev, ino }] });
    // Another file of the same size renamed over it, as a user may between the dump and the restore.
    writeFileSync(join(tmp, 'other'), 'twelve bytes');
    renameSync(join(tmp, 'other'), path);
    expect((await runRestore(ctx, { runId: undefined, boot: true })).code).toBe(8);
    expect(runner.launches.calls()).toEqual([]);
    const error = Journal.open(ctx.stateDir, journal.runId).phase('restore').error;
    expect(error).toMatchObject({
      code: 'RESTORE_FILE_CHANGED',
      message: `the file ${join(tmp, 'notes\\x1b[2J')} that the tree holds is not the file the dump recorded there (device ${dev}, inode ${ino}): it was replaced, renamed or removed since`,
    });
    expect(readOutcome(journal.paths.dir)).toBe('failed');
    expect(readdirSync(journal.paths.images).length).toBeGreaterThan(0);
  });

  it('fails the run when the restore script ends without its record, with what it printed, escaped', async () => {
    const { ctx, journal, runner } = await upgradeToJump();
    const other = runner.handlerFor(['/bin/sh']);
    runner.on(['/bin/sh'], (argv, request) =>
      argv[1]?.endsWith('/restore-node.sh')
        ? { exitCode: 1, stderr: 'mkdir: cannot create \u001b[2J\n' }
        : other(argv, request),
    );
    expect((await runRestore(ctx, { runId: undefined, boot: true })).code).toBe(8);
    expect(Journal.open(ctx.stateDir, journal.runId).phase('restore').error).toMatchObject({
      code: 'RESTORE_SCRIPT_FAILED',
      message: expect.stringContaining('without writing its record: mkdir: cannot create \\x1b[2J'),
    });
    expect(readOutcome(journal.paths.dir)).toBe('failed');
  });

  it("ignores an earlier boot's restore-fast.sh record", async () => {
    const { ctx, journal, runner } = await upgradeToJump();
    writeFileSync(ctx.host.rulesMarker, '');
    writeFileSync(
      join(journal.paths.dir, 'fast-restore'),
      'boot=an-earlier-boot\noutcome=restored\nlauncher=1\n',
    );
    expect((await runRestore(ctx, { runId: undefined, boot: true })).code).toBe(0);
    expect(runner.launches.calls()).toHaveLength(1);
  });

  it('fails at the address gate when a dumped local address never comes up, and still consumes the mark and cleans up (behaviours 10, 1, 2)', async () => {
    const { ctx, journal, runner } = await upgradeToJump();
    writeFileSync(ctx.host.rulesMarker, '');
    const manifest = readManifest(journal.paths.dir);
    writeManifest(journal.paths.dir, {
      ...manifest,
      addressTimeoutS: 1,
      connections: manifest.connections.map((c) => ({
        ...c,
        local: { ...c.local, ip: '192.0.2.77' },
      })),
    });
    const { code } = await runRestore(ctx, { runId: undefined, boot: true });
    expect(code).toBe(8);
    expect(readOutcome(journal.paths.dir)).toBe('failed');
    expect(Journal.open(ctx.stateDir, journal.runId).phase('restore').error?.code).toBe(
      'GATE_TIMEOUT',
    );
    expect(runner.launches.calls()).toEqual([]);
    expect(existsSync(pendingPath(ctx.stateDir))).toBe(false);
    for (const unit of UNITS) expect(existsSync(join(ctx.host.unitDir, unit))).toBe(false);
  });

  it('a restore by hand, outside the restore unit, disables the units and reloads systemd', async () => {
    const { ctx, journal, runner } = await upgradeToJump();
    writeFileSync(ctx.host.rulesMarker, '');
    const before = runner.calls.length;
    expect((await runRestore(ctx, { runId: journal.runId, boot: false })).code).toBe(0);
    const calls = runner.calls.slice(before).map((argv) => argv.join(' '));
    const disable = calls.indexOf(`systemctl disable --quiet ${UNITS.join(' ')}`);
    expect(disable).toBeGreaterThan(-1);
    expect(calls.indexOf('systemctl daemon-reload')).toBeGreaterThan(disable);
    for (const unit of UNITS) expect(existsSync(join(ctx.host.unitDir, unit))).toBe(false);
  });

  it("a restore by hand of one pending run takes it off the list, and leaves the others' boot restore whole", async () => {
    const { ctx, journal, runner } = await upgradeToJump();
    markPending(ctx.stateDir, [journal.runId, 'another-run']);
    writeFileSync(ctx.host.rulesMarker, '');
    const before = runner.calls.length;
    expect((await runRestore(ctx, { runId: journal.runId, boot: false })).code).toBe(0);
    expect(pendingRuns(ctx.stateDir)).toEqual(['another-run']);
    for (const unit of UNITS) expect(existsSync(join(ctx.host.unitDir, unit))).toBe(true);
    expect(existsSync(join(ctx.stateDir, 'lock-rules.v4'))).toBe(true);
    expect(existsSync(ctx.host.ifupdownHook)).toBe(true);
    expect(runner.calls.slice(before).some((argv) => argv.includes('disable'))).toBe(false);
    expect(Journal.open(ctx.stateDir, journal.runId).phase('cleanup').status).toBe('done');
    // The last one pending, restored by hand, takes the boot's artefacts with it.
    expect(takeOutOfPending(ctx.stateDir, 'another-run')).toEqual([]);
    expect(existsSync(pendingPath(ctx.stateDir))).toBe(false);
  });

  it('a restore by hand of the only pending run clears the pending mark: the next upgrade is free to start', async () => {
    const { ctx, journal } = await upgradeToJump();
    writeFileSync(ctx.host.rulesMarker, '');
    expect((await runRestore(ctx, { runId: journal.runId, boot: false })).code).toBe(0);
    expect(existsSync(pendingPath(ctx.stateDir))).toBe(false);
    for (const unit of UNITS) expect(existsSync(join(ctx.host.unitDir, unit))).toBe(false);
  });

  it('refuses to restore a run that is restored already, and leaves its outcome as it was', async () => {
    const { ctx, journal } = await upgradeToJump();
    writeFileSync(ctx.host.rulesMarker, '');
    expect((await runRestore(ctx, { runId: undefined, boot: true })).code).toBe(0);
    await expect(runRestore(ctx, { runId: journal.runId, boot: false })).rejects.toMatchObject({
      code: 'ALREADY_RESTORED',
      exit: 2,
    });
    expect(readOutcome(journal.paths.dir)).toBe('restored');
  });

  it('after upgrade --no-exec and a kexec by hand, the outcome says dumped until the restore has an outcome of its own', async () => {
    const s = await session();
    const { ctx, runner, journal } = machineWith([s]);
    expect(await runWorker(ctx, upgradeOptions(journal, s, { exec: false }))).toBe(0);
    expect(readOutcome(journal.paths.dir)).toBe('dumped');
    jumpTo(ctx.host, runner.calls);
    writeFileSync(ctx.host.rulesMarker, '');
    const atLaunch: { outcome?: string | undefined } = {};
    const script = runner.handlerFor(['/bin/sh']);
    runner.on(['/bin/sh'], (argv, request) => {
      if (argv[1]?.endsWith('/restore-node.sh')) atLaunch.outcome = readOutcome(journal.paths.dir);
      return script(argv, request);
    });
    expect((await runRestore(ctx, { runId: undefined, boot: true })).code).toBe(0);
    expect(atLaunch.outcome).toBeUndefined();
    expect(readOutcome(journal.paths.dir)).toBe('restored');
  });

  it('restore --boot with no run pending nor on a restoring list says so, and removes nothing', async () => {
    const { ctx } = await upgradeToJump();
    rmSync(pendingPath(ctx.stateDir));
    await expect(runRestore(ctx, { runId: undefined, boot: true })).rejects.toMatchObject({
      code: 'NOTHING_PENDING',
    });
    for (const unit of UNITS) expect(existsSync(join(ctx.host.unitDir, unit))).toBe(true);
  });

  it('a take that fails (no room for the restoring list) restores nothing and removes nothing: the runs stay pending for the next boot', async () => {
    const { ctx, journal, runner } = await upgradeToJump();
    writeFileSync(ctx.host.rulesMarker, '');
    // A directory where the list's temporary file goes: its write fails, as on a full disk.
    mkdirSync(join(ctx.stateDir, 'restoring.tmp'));
    await expect(runRestore(ctx, { runId: undefined, boot: true })).rejects.toMatchObject({
      code: 'TAKE_FAILED',
      message: expect.stringContaining('restoring.tmp: Is a directory'),
    });
    expect(runner.launches.calls()).toEqual([]);
    expect(pendingRuns(ctx.stateDir)).toEqual([journal.runId]);
    for (const unit of UNITS) expect(existsSync(join(ctx.host.unitDir, unit))).toBe(true);
  });

  it('with a journal it cannot read, still consumes the mark and removes the boot units and rules', async () => {
    const { ctx, journal } = await upgradeToJump();
    writeFileSync(journal.paths.journal, '{ torn');
    const { code } = await runRestore(ctx, { runId: undefined, boot: true });
    expect(code).toBe(8);
    expect(existsSync(pendingPath(ctx.stateDir))).toBe(false);
    for (const unit of UNITS) expect(existsSync(join(ctx.host.unitDir, unit))).toBe(false);
    expect(existsSync(join(ctx.stateDir, 'lock-rules.v4'))).toBe(false);
    expect(existsSync(ctx.host.ifupdownHook)).toBe(false);
  });

  it('after a failed --all-ssh dump, the kexec by hand restores the session dumped before it', async () => {
    const { other, own, ctx, runner, otherRun, ownRun } = await twoSessions();
    runner.on(['criu', 'dump'], (argv) => {
      if (Number(flagValue(argv, '-t')) === own.pid && !argv.includes('--leave-running'))
        return { exitCode: 1 };
      for (const image of [
        'inventory.img',
        'pstree.img',
        'files.img',
        `core-${flagValue(argv, '-t')}.img`,
      ])
        writeFileSync(join(flagValue(argv, '-D') as string, image), 'x');
      if (!argv.includes('--leave-running')) other.end();
    });
    await expect(
      runWorker(
        ctx,
        upgradeOptions(ownRun, own, { others: [{ runId: otherRun.runId, rootPid: other.pid }] }),
      ),
    ).rejects.toMatchObject({ code: 'CRIU_DUMP_FAILED' });
    expect(pendingRuns(ctx.stateDir)).toEqual([otherRun.runId]);
    jumpTo(ctx.host, runner.calls);
    writeFileSync(ctx.host.rulesMarker, '');
    expect((await runRestore(ctx, { runId: undefined, boot: true })).code).toBe(0);
    expect(readOutcome(otherRun.paths.dir)).toBe('restored');
  });

  it('when one of the dumps side by side fails, the one under way beside it finishes and is kept; the caller is not reached', async () => {
    const { first, second, ctx, runner, firstRun, secondRun, ownRun, leap } = await threeSessions();
    const dump = runner.handlerFor(['criu', 'dump']);
    runner.on(['criu', 'dump'], async (argv, request) => {
      const tree = Number(flagValue(argv, '-t'));
      if (argv.includes('--leave-running')) return dump(argv, request);
      if (tree === first.pid) return { exitCode: 1 };
      await delay(200);
      return dump(argv, request);
    });
    await expect(runWorker(ctx, leap)).rejects.toMatchObject({ code: 'CRIU_DUMP_FAILED' });
    expect(pendingRuns(ctx.stateDir)).toEqual([secondRun.runId]);
    expect([readOutcome(firstRun.paths.dir), readOutcome(ownRun.paths.dir)]).toEqual([
      'dump-failed',
      'dump-failed',
    ]);
    expect(
      runner
        .callsOf(['criu', 'dump'])
        .filter((argv) => !argv.includes('--leave-running'))
        .map((argv) => Number(flagValue(argv, '-t'))),
    ).toEqual([first.pid, second.pid]);
  });

  it("restores a tree that holds another tree's terminal (an attached tmux server) after that tree, and opens the terminal where it was made again", async () => {
    const [holder, owner] = [await session(), await session()];
    const {
      ctx,
      runner,
      journals: [holderRun, ownerRun],
    } = machineWith([holder, owner]);
    if (!holderRun || !ownerRun) throw new Error('two runs expected');
    await expect(
      runWorker(
        ctx,
        upgradeOptions(ownerRun, owner, {
          others: [{ runId: holderRun.runId, rootPid: holder.pid }],
        }),
      ),
    ).rejects.toMatchObject({ code: 'KEXEC_RETURNED' });
    // As the worker writes them for a tmux server (dumped first) that holds the caller's pts/200 (free on any test machine).
    writeManifest(ownerRun.paths.dir, { ...readManifest(ownerRun.paths.dir), ptys: [200] });
    writeManifest(holderRun.paths.dir, {
      ...readManifest(holderRun.paths.dir),
      terminals: [{ pts: 200, key: 'tty[88c8:18]', fd: 9, nonBlocking: true }],
    });
    jumpTo(ctx.host, runner.calls);
    writeFileSync(ctx.host.rulesMarker, '');
    expect((await runRestore(ctx, { runId: undefined, boot: true })).code).toBe(0);
    const launches = runner.launches.calls();
    const runOf = (argv: string[]) =>
      [holderRun, ownerRun].find((j) => argv.some((a) => a.includes(j.runId)))?.runId;
    expect(launches.map(runOf)).toEqual([ownerRun.runId, holderRun.runId]);
    const holderLaunch = launches[1] ?? [];
    // pts/200 was free at this boot, so it kept its index (a remap would move it).
    expect(holderLaunch).toContain('tty-nb:9:/dev/pts/200');
  });

  it('a boot the leap did not start (the reboot after the new kernel panicked, a reset) restores the run on the kernel it booted, its connections live, and says the new kernel did not boot', async () => {
    const { ctx, journal, runner } = await upgradeToJump();
    writeFileSync(
      ctx.host.procCmdline,
      'BOOT_IMAGE=/boot/vmlinuz-6.1.0-55-cloud-amd64 root=/dev/vda1 ro console=ttyS0\n',
    );
    writeFileSync(ctx.host.rulesMarker, '');
    const { code } = await runRestore(ctx, { runId: undefined, boot: true });
    expect(code).toBe(0);
    // A peer that waited through the restart gets its connection back: not shut down.
    expect(runner.launches.calls()).toHaveLength(1);
    expect(runner.launches.calls()[0]).not.toContain('--tcp-close');
    expect(readOutcome(journal.paths.dir)).toBe('restored');
    const after = Journal.open(ctx.stateDir, journal.runId);
    expect(after.phase('restore').status).toBe('done');
    expect(after.phase('kexec')).toMatchObject({
      status: 'failed',
      error: {
        code: 'TARGET_BOOT_FAILED',
        message: expect.stringMatching(
          new RegExp(`^${NEWEST_KERNEL} did not boot to the restore: the machine restarted on `),
        ),
      },
    });
    expect(existsSync(pendingPath(ctx.stateDir))).toBe(false);
    for (const unit of UNITS) expect(existsSync(join(ctx.host.unitDir, unit))).toBe(false);
    expect(existsSync(join(ctx.stateDir, 'lock-rules.v4'))).toBe(false);
  });
});

describe('a restore at boot cut short, and criu killed while it restores', () => {
  it('a power cut mid-restore: the next boot restores nothing, keeps the images, says how to restore them, and cleans up the boot', async () => {
    const { ctx, journal, runner } = await upgradeToJump();
    // The cut boot: it took the pending run and had started its restore, the jump still open.
    takeAtEarlierBoot(ctx.stateDir);
    Journal.open(ctx.stateDir, journal.runId).start('restore');
    writeFileSync(
      ctx.host.procCmdline,
      'BOOT_IMAGE=/boot/vmlinuz-6.1.0-55-cloud-amd64 root=/dev/vda1 ro\n',
    );
    const { code } = await runRestore(ctx, { runId: undefined, boot: true });
    expect(code).toBe(0);
    expect(runner.launches.calls()).toEqual([]);
    expect(readOutcome(journal.paths.dir)).toBe('interrupted');
    const after = Journal.open(ctx.stateDir, journal.runId);
    expect(after.phase('restore').error).toMatchObject({
      code: 'RESTORE_CUT_SHORT',
      hint: expect.stringContaining(`kernel-leap restore --run ${journal.runId}`),
    });
    // The cut boot never closed the jump: it did not reach the restore.
    expect(after.phase('kexec')).toMatchObject({
      status: 'failed',
      error: {
        code: 'NO_RESTORE_BOOT',
        message: `${NEWEST_KERNEL} did not boot to the restore: the machine restarted first`,
      },
    });
    expect(after.phase('cleanup').status).toBe('done');
    expect(readdirSync(journal.paths.images).length).toBeGreaterThan(0);
    expect(existsSync(restoringPath(ctx.stateDir))).toBe(false);
    for (const unit of UNITS) expect(existsSync(join(ctx.host.unitDir, unit))).toBe(false);
  });

  it('the restore unit killed mid-cleanup: the session stays restored, and the next boot finishes the cleanup', async () => {
    const { ctx, journal } = await upgradeToJump();
    takeAtEarlierBoot(ctx.stateDir);
    journal.start('restore');
    journal.finish('restore');
    writeOutcome(journal.paths.dir, 'restored');
    journal.start('cleanup');
    const { code } = await runRestore(ctx, { runId: undefined, boot: true });
    expect(code).toBe(0);
    expect(readOutcome(journal.paths.dir)).toBe('restored');
    expect(Journal.open(ctx.stateDir, journal.runId).phase('cleanup').status).toBe('done');
    expect(existsSync(restoringPath(ctx.stateDir))).toBe(false);
    for (const unit of UNITS) expect(existsSync(join(ctx.host.unitDir, unit))).toBe(false);
    expect(existsSync(join(ctx.stateDir, 'lock-rules.v4'))).toBe(false);
  });

  it('criu killed before the tasks resumed (no error in its log) is started once more, and the session is restored', async () => {
    const { ctx, journal, runner } = await upgradeToJump();
    writeFileSync(ctx.host.rulesMarker, '');
    const logFile = readManifest(journal.paths.dir).criu.logFile;
    runner.launches.plan('killed');
    expect((await runRestore(ctx, { runId: undefined, boot: true })).code).toBe(0);
    expect(runner.launches.calls()).toHaveLength(2);
    expect(readOutcome(journal.paths.dir)).toBe('restored');
    expect(readFileSync(`${logFile}.killed`, 'utf8')).toContain('Restoring images');
    expect(Journal.open(ctx.stateDir, journal.runId).snapshot.changes).toContainEqual(
      expect.objectContaining({ kind: 'restore-again', detail: expect.stringMatching(/killed\?/) }),
    );
  });

  it('criu that failed with an error of its own is not started again', async () => {
    const { ctx, journal, runner } = await upgradeToJump();
    writeFileSync(ctx.host.rulesMarker, '');
    const logFile = readManifest(journal.paths.dir).criu.logFile;
    runner.launches.plan('failed');
    expect((await runRestore(ctx, { runId: undefined, boot: true })).code).toBe(8);
    expect(runner.launches.calls()).toHaveLength(1);
    expect(readFileSync(logFile, 'utf8')).toContain('Unable to open core-1.img');
    expect(readOutcome(journal.paths.dir)).toBe('failed');
    expect(Journal.open(ctx.stateDir, journal.runId).phase('restore').error?.code).toBe(
      'CRIU_RESTORE_FAILED',
    );
  });
});

describe('the GRUB one-shot to the running kernel, on a machine that boots through GRUB', () => {
  it('is set after the dump, before the sync and the jump, and cleared by the cleanup after the boot restore', async () => {
    const s = await session();
    const { ctx, runner, journal } = machineWith([s]);
    const grubenv = grubOn(ctx.host, runner);
    await expect(runWorker(ctx, upgradeOptions(journal, s))).rejects.toMatchObject({
      code: 'KEXEC_RETURNED',
    });
    const set = runner.indexOf(['grub-editenv', grubFiles(ctx.host.boot).env, 'set']);
    expect(set).toBeGreaterThan(runner.lastIndexOf(['criu', 'dump']));
    expect(set).toBeLessThan(runner.indexOf(['sync']));
    expect(grubenv.get('next_entry')).toBe(GRUB_ENTRY);
    expect(Journal.open(ctx.stateDir, journal.runId).snapshot.changes).toContainEqual(
      expect.objectContaining({ kind: 'grub next_entry', path: grubFiles(ctx.host.boot).env }),
    );

    writeFileSync(ctx.host.rulesMarker, '');
    expect((await runRestore(ctx, { runId: undefined, boot: true })).code).toBe(0);
    expect(readOutcome(journal.paths.dir)).toBe('restored');
    expect(grubenv.has('next_entry')).toBe(false);
    expect(runner.lastIndexOf(['grub-editenv'])).toBeGreaterThan(runner.lastIndexOf(['/bin/sh']));
  });
});

/** Debian 12's grub.cfg with the scratch host's running kernel, and grub-editenv on a block in memory. */
function grubOn(host: HostPaths, runner: ScriptedRunner): Map<string, string> {
  const { cfg } = grubFiles(host.boot);
  mkdirSync(dirname(cfg));
  const sample = readFileSync(
    join(import.meta.dirname, '../../fixtures/grub/bookworm.grub.cfg'),
    'utf8',
  );
  writeFileSync(cfg, sample.replaceAll('6.1.0-40-amd64', OLD_KERNEL));
  const block = new Map<string, string>();
  runner
    .on(['grub-editenv', '--version'], () => ({ stdout: 'grub-editenv (GRUB) 2.06-13+deb12u1\n' }))
    .on(['grub-editenv'], (argv) => {
      const [, , verb, arg = ''] = argv;
      if (verb === 'set')
        block.set(arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1));
      if (verb === 'unset') block.delete(arg);
      return { stdout: [...block].map(([k, v]) => `${k}=${v}\n`).join('') };
    });
  return block;
}

const GRUB_DEVICE = '8d1f6b2e-4c39-4c1a-9f0e-3b7e5a2d9c41';
const GRUB_ENTRY = `gnulinux-advanced-${GRUB_DEVICE}>gnulinux-${OLD_KERNEL}-advanced-${GRUB_DEVICE}`;

describe('the unwind', () => {
  it('disables the boot units even when prepare failed after enabling them', async () => {
    const s = await session();
    const { ctx, runner, journal } = machineWith([s]);
    runner.on(['systemctl', 'enable'], () => ({
      exitCode: 1,
      stderr: 'Failed to enable unit: half done',
    }));
    await expect(runWorker(ctx, upgradeOptions(journal, s))).rejects.toMatchObject({
      code: 'COMMAND_FAILED',
    });
    expect(runner.indexOf(['systemctl', 'disable', '--quiet', ...UNITS])).toBeGreaterThan(
      runner.indexOf(['systemctl', 'enable']),
    );
    for (const unit of UNITS) expect(existsSync(join(ctx.host.unitDir, unit))).toBe(false);
    expect(readOutcome(journal.paths.dir)).toBe('dump-failed');
    expect(
      runner.indexOf([
        'criu',
        'dump',
        '--no-default-config',
        '-t',
        String(s.pid),
        '-D',
        journal.paths.images,
      ]),
    ).toBe(-1);
  });

  it("the disk full right after criu's dump, as the journal records it: the images are the session, and the leap goes on to the jump", async () => {
    const s = await session();
    const { ctx, journal } = machineWith([s]);
    let failed = false;
    // The method itself, taken before the spy replaces it, to call through for every other mark.
    const original = Object.getOwnPropertyDescriptor(Journal.prototype, 'mark')?.value as (
      this: Journal,
      ...args: Parameters<Journal['mark']>
    ) => void;
    vi.spyOn(Journal.prototype, 'mark').mockImplementation(function (this: Journal, name, at) {
      original.call(this, name, at);
      // As the journal's write of it on a full disk: the mark is held in memory, the file refused it.
      if (name === 'dump.dumped' && !failed) {
        failed = true;
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), {
          code: 'ENOSPC',
        });
      }
    });
    await expect(runWorker(ctx, upgradeOptions(journal, s))).rejects.toMatchObject({
      code: 'KEXEC_RETURNED',
    });
    expect(failed).toBe(true);
    const after = Journal.open(ctx.stateDir, journal.runId);
    expect(after.phase('dump')).toMatchObject({
      status: 'done',
      outputs: { settled: expect.stringMatching(/criu finished the dump; .*ENOSPC/) },
    });
    expect(after.snapshot.marks['dump.dumped']).toBeDefined();
    expect(existsSync(join(journal.paths.images, 'inventory.img'))).toBe(true);
    expect(pendingRuns(ctx.stateDir)).toEqual([journal.runId]);
    // The jump that returned leaves it dumped for the next boot, not aborted.
    expect(readOutcome(journal.paths.dir)).toBe('dumped');
  });

  it("a post-dump script that fails: criu logs 'finished successfully', resumes the tree and exits 1; the run is dump-failed and the session goes on", async () => {
    const s = await session();
    const { ctx, runner, journal } = machineWith([s]);
    const healthyDump = runner.handlerFor(['criu', 'dump']);
    runner.on(['criu', 'dump'], (argv, request) => {
      if (argv.includes('--leave-running')) return healthyDump(argv, request);
      writeFileSync(flagValue(argv, '-o') as string, 'Dumping finished successfully\n');
      return { exitCode: 1, stderr: '' };
    });
    await expect(runWorker(ctx, upgradeOptions(journal, s))).rejects.toBeDefined();
    expect(readOutcome(journal.paths.dir)).toBe('dump-failed');
    expect(taskState(s.pid)).toMatch(/^[SR]$/);
    expect(pendingRuns(ctx.stateDir)).toEqual([]);
    expect(runner.callsOf(['kexec', '-e'])).toEqual([]);
  });

  it('sync failing after a good dump: the run ends dumped and pending, never aborted, and prune keeps its images', async () => {
    const s = await session();
    const { ctx, runner, journal } = machineWith([s]);
    runner.on(['sync'], () => ({ exitCode: 1, stderr: 'sync: Input/output error' }));
    await expect(runWorker(ctx, upgradeOptions(journal, s))).rejects.toBeDefined();
    expect(readOutcome(journal.paths.dir)).toBe('dumped');
    expect(pendingRuns(ctx.stateDir)).toEqual([journal.runId]);
    expect(existsSync(join(journal.paths.images, 'inventory.img'))).toBe(true);
    expect(prunable(listRuns(ctx.stateDir), true)).toEqual([]);
    expect(runner.callsOf(['kexec', '-e'])).toEqual([]);
  });

  it('cancelled by Ctrl-C before the freeze: dumps nothing, undoes the prepared boot, and the session goes on', async () => {
    const s = await session();
    const { ctx, runner, journal } = machineWith([s]);
    runner.on(['systemctl', 'enable'], () => writeFileSync(join(journal.paths.dir, 'cancel'), ''));
    expect(await runWorker(ctx, upgradeOptions(journal, s))).toBe(1);
    expect(readOutcome(journal.paths.dir)).toBe('aborted');
    expect(
      runner.callsOf(['criu', 'dump']).filter((argv) => !argv.includes('--leave-running')),
    ).toEqual([]);
    expect(runner.indexOf(['kexec', '-u'])).toBeGreaterThan(-1);
    for (const unit of UNITS) expect(existsSync(join(ctx.host.unitDir, unit))).toBe(false);
    expect(taskState(s.pid)).toMatch(/^[SR]$/);
    expect(Journal.open(ctx.stateDir, journal.runId).snapshot.marks.cancelled).toBeDefined();
  });

  it('refuses while another leap holds the machine: nothing frozen, its run aborted, the session running', async () => {
    const s = await session();
    const { ctx, runner, journal } = machineWith([s]);
    const other = tryLock(leapLockPath(ctx.stateDir));
    expect(other.held).toBe(true);
    await expect(runWorker(ctx, upgradeOptions(journal, s))).rejects.toMatchObject({
      code: 'LEAP_UNDER_WAY',
    });
    expect(readOutcome(journal.paths.dir)).toBe('aborted');
    expect(runner.callsOf(['criu', 'dump'])).toEqual([]);
    expect(runner.callsOf(['kexec', '-l'])).toEqual([]);
    expect(taskState(s.pid)).toMatch(/^[SR]$/);
    if (other.held) other.release();
  });

  it('leaves every file and directory under the state dir owner-only, images and logs included', async () => {
    const { ctx, journal } = await upgradeToJump();
    // The installed unit is systemd's to read: its own mode, not the umask's.
    expect(statSync(join(ctx.host.unitDir, UNITS[0] as string)).mode & 0o777).toBe(0o644);
    writeFileSync(ctx.host.rulesMarker, '');
    await runRestore(ctx, { runId: undefined, boot: true });
    const open: string[] = [];
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const path = join(dir, name);
        const stat = statSync(path);
        if (stat.mode & 0o077) open.push(`${path} ${(stat.mode & 0o777).toString(8)}`);
        if (stat.isDirectory()) walk(path);
      }
    };
    walk(ctx.stateDir);
    expect(open).toEqual([]);
    expect(readdirSync(journal.paths.images).length).toBeGreaterThan(0);
  });

  it("drops a restored run's images as its logs ship, whether or not the upload succeeds, unless [paths] keep_images says to keep them", async () => {
    for (const [keep, uploads] of [
      [false, true],
      [true, true],
      [false, false],
    ] as const) {
      const { ctx, journal, runner } = await upgradeToJump();
      ctx.config = { ...ctx.config, paths: { ...ctx.config.paths, keep_images: keep } };
      if (!uploads) {
        // A store that refuses the upload, as a 403 would: here credentials it will not use.
        const credentials = join(ctx.stateDir, 'exposed-credentials');
        writeFileSync(credentials, '[default]\n', { mode: 0o644 });
        ctx.config = {
          ...ctx.config,
          s3: { ...ctx.config.s3, bucket: 'kl', credentials_file: credentials },
        };
      }
      writeFileSync(ctx.host.rulesMarker, '');
      runner.on(['dmesg'], () => ({ stdout: 'dmesg\n' }));
      await runRestore(ctx, { runId: undefined, boot: true });
      const because = `keep_images = ${keep}, upload ${uploads ? 'ok' : 'refused'}`;
      expect(await shipRun(ctx, journal.runId), because).toBe(uploads);
      expect(existsSync(join(journal.paths.images, 'inventory.img')), because).toBe(keep);
      expect(existsSync(join(journal.paths.dir, 'report.json'))).toBe(true);
    }
  });
});

describe('a file the session holds in a directory the boot empties', () => {
  it('is copied after the dump, put back by the action script before criu restores, and goes with the images once the logs ship', async () => {
    const cleared = mkdtempSync(join(tmpdir(), 'kl-cleared-'));
    const build = join(cleared, 'build');
    const held = join(build, 'held');
    mkdirSync(build);
    writeFileSync(held, 'before-the-leap\n');
    chmodSync(held, 0o640);
    const s = await session(held);
    const { ctx, runner, journal } = machineWith([s]);
    // As tmpfiles' `D /tmp` on Debian 12, for this directory.
    runner.on(['systemd-tmpfiles', '--cat-config'], () => ({
      stdout: `D ${cleared} 1777 root root -\n`,
    }));
    let copiedBeforeSync = false;
    runner.on(['sync'], () => {
      copiedBeforeSync = existsSync(join(journal.paths.dir, 'held-files', '0'));
    });
    await expect(runWorker(ctx, upgradeOptions(journal, s))).rejects.toMatchObject({
      code: 'KEXEC_RETURNED',
    });
    const [file] = readHeldFiles(journal.paths.dir).files;
    expect(file).toMatchObject({ path: held, mode: 0o640, copy: { state: 'copied', bytes: 16 } });
    expect(file?.dirs.at(-1)).toEqual({ path: build, uid: 0, gid: 0, mode: 0o700 });
    expect(copiedBeforeSync).toBe(true);
    const journaled = JSON.parse(readFileSync(journal.paths.journal, 'utf8'));
    expect(journaled.phases.plan.outputs.heldFiles).toEqual([
      expect.objectContaining({ path: held, size: 16 }),
    ]);
    expect(journaled.changes).toContainEqual(
      expect.objectContaining({ kind: 'held-file-copied', path: held }),
    );

    // The boot empties the directory; criu runs its action script before it restores anything.
    rmSync(build, { recursive: true });
    writeFileSync(ctx.host.rulesMarker, '');
    runner.on(['dmesg'], () => ({ stdout: 'dmesg\n' }));
    expect((await runRestore(ctx, { runId: undefined, boot: true })).code).toBe(0);
    expect(readFileSync(held, 'utf8')).toBe('before-the-leap\n');
    expect(statSync(held).mode & 0o7777).toBe(0o640);
    expect(readFileSync(join(journal.paths.dir, 'held-files.log'), 'utf8')).toBe(
      'held-files/0: put back: 16 bytes, mode 0640, uid 0\n',
    );
    await shipRun(ctx, journal.runId);
    expect(existsSync(join(journal.paths.dir, 'held-files'))).toBe(false);
  });

  it('a symlink planted at its path aborts the restore: failed, nothing written through it, the images and the copy kept', async () => {
    const cleared = mkdtempSync(join(tmpdir(), 'kl-cleared-'));
    const held = join(cleared, 'held');
    writeFileSync(held, 'before-the-leap\n');
    const s = await session(held);
    const { ctx, runner, journal } = machineWith([s]);
    runner.on(['systemd-tmpfiles', '--cat-config'], () => ({
      stdout: `D ${cleared} 1777 root root -\n`,
    }));
    await expect(runWorker(ctx, upgradeOptions(journal, s))).rejects.toMatchObject({
      code: 'KEXEC_RETURNED',
    });
    // Emptied at boot, then a link where the file was, to a file of root's of the same size.
    const secret = join(mkdtempSync(join(tmpdir(), 'kl-secret-')), 'shadow');
    writeFileSync(secret, 'root:secret:1:\n', { mode: 0o600 });
    rmSync(held);
    symlinkSync(secret, held);
    writeFileSync(ctx.host.rulesMarker, '');
    expect((await runRestore(ctx, { runId: undefined, boot: true })).code).toBe(8);
    expect(readOutcome(journal.paths.dir)).toBe('failed');
    expect(readFileSync(secret, 'utf8')).toBe('root:secret:1:\n');
    expect(readFileSync(join(journal.paths.dir, 'held-files.log'), 'utf8')).toBe(
      'held-files/0: refused, the restore is aborted: the path is a symlink now, which criu would follow\n',
    );
    const restore = Journal.open(ctx.stateDir, journal.runId).phase('restore');
    expect(restore.error?.hint).toMatch(/held-files\.log in the run dir says which/);
    expect(existsSync(join(journal.paths.images, 'inventory.img'))).toBe(true);
    expect(readFileSync(join(journal.paths.dir, 'held-files', '0'), 'utf8')).toBe(
      'before-the-leap\n',
    );
  });
});
