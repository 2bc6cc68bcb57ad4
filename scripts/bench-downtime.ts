/**
 * `npm run bench -- downtime [--rounds N] [--kinds K,K] [--sessions N] [--mem MiB] [--out DIR]`:
 * in one bookworm guest with kernel-leap installed on its shipped defaults, N ssh
 * sessions, each with a ticker (a line every 0.2 s, stamped on the host), are
 * carried to the other kernel, round after round alternately by the floor
 * (bench-floor.ts, by hand with stock tools) and by one `kernel-leap upgrade
 * --yes` typed in the first session (`--all-ssh` with more than one). With
 * `--mem`, each session also holds that much written memory, checked intact
 * after the leap (bench-memory.ts); a changed one fails the run. Each session's
 * downtime is its ticker's longest gap; its tooldown is that without the kexec
 * jump, read from the host-stamped console; a round's figure is its longest
 * tooldown. The run prints each round, and at the end the leap's tooldown over
 * the floor's (means, and round by round), and writes every figure, the options,
 * the host's load around each round, the commit and QEMU to
 * docs/bench/downtime-….json and a table beside it (bench-results.ts; how to
 * read them: docs/bench.md).
 *
 * --kinds floor,floor-i,leap sets what each round runs (floor-i: the floor with
 * kexec -l -i). With --leaps N, one idle session is leapt N times in a row
 * instead, each leap's drift from the first printed, and no file written. Under
 * TCG the jump is noise (docs/criu-facts.md §19), and so is a stall of QEMU 7.2's
 * TCG after a kexec: CPU 0 stuck for minutes zeroing pages (soft lockup in
 * clear_page_erms), QEMU's vCPU thread busy invalidating translated code
 * (page_collection_lock, qht_remove). It hits the floor as it hits the leap; with
 * purgatory's check off (-i) it can land in the jump instead. Each run prints
 * the boot's soft lockups, so read both figures, with and without the jump, with them.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, release } from 'node:os';

import { runStamp } from '../src/state/journal.js';
import { installKernelLeap } from '../test/helpers/leap.js';
import { pollUntil } from '../test/helpers/poll.js';
import { bootGuest, type Vm } from '../test/helpers/vm-boot.js';
import { guestCpu } from '../test/helpers/vm-qemu.js';
import type { VmSession } from '../test/helpers/vm-session.js';
import {
  FLOOR_UNIT,
  floorMarks,
  floorPathMarks,
  floorPlan,
  installFloor,
  loadFloorKernel,
  removeFloorImages,
  startFloorLeap,
} from './bench-floor.js';
import { MEM_SUM, memoryCheckOf, memoryHolderCommand } from './bench-memory.js';
import { type DowntimeOptions, type Kind, parseDowntimeOptions } from './bench-options.js';
import { bootMonotonic, leapFigures, type PathMarks, seconds } from './bench-path.js';
import {
  againstOneIdleSession,
  type BenchResults,
  type HostFacts,
  type LoadAverage,
  parseLoadAverage,
  roundFigure,
  type RoundRun,
  type SessionFigures,
  summarize,
  summaryLines,
  writeResults,
} from './bench-results.js';
import { consoleBoot, SerialStamper } from './bench-serial.js';

/** Created by the host once a round's figures are read: each memory holder then checks its memory. */
const MEM_CHECK_FILE = '/root/bench-mem-check';

/** How one leap is typed in the first session: every session with more than one. */
function upgradeCommand(sessions: number): string {
  return `kernel-leap upgrade --yes${sessions > 1 ? ' --all-ssh' : ''} --kernel "$k"`;
}

/**
 * A session: its tty, the memory holder if any, the ticker, and a loop that runs
 * `upgrade` in this very session when the host types a kernel into it (only the
 * first session is typed into). The loop reads the terminal, so typing needs no
 * other ssh connection, which --all-ssh would carry too. Everything ends with
 * the terminal, so a closed session leaves nothing running to slow the runs after it.
 */
function sessionScript(options: Pick<DowntimeOptions, 'sessions' | 'memMib'>): string {
  return [
    'echo "TTY $(tty)"',
    ...(options.memMib > 0 ? [memoryHolderCommand(options.memMib, MEM_CHECK_FILE)] : []),
    '( while echo "tick $(date +%s%N) $(uname -r)"; do sleep 0.2; done ) &',
    `while read -r k; do ${upgradeCommand(options.sessions)}; echo "UPGRADE-EXIT=$?"; done`,
  ].join('\n');
}

/** How long one leap may take, jump included (the jump alone has taken 320 s under load). */
const LEAP_TIMEOUT_MS = 600_000;
/** Ticks gathered on the new boot before its figures are read: enough to set its clock offset. */
const SETTLE_MS = 4000;
/** Writing, then reading, 512 MiB in python under TCG. */
const MEMORY_TIMEOUT_MS = 600_000;

interface Carried {
  session: VmSession;
  /** pts/N */
  tty: string;
}

async function runningKernel(vm: Vm): Promise<string> {
  return (await vm.run('uname -r')).trim();
}

function otherKernel(vm: Vm, running: string): string {
  return running === vm.connection.oldKernel ? vm.connection.newKernel : vm.connection.oldKernel;
}

/** The sshd processes of root's pty logins: only the bench's own sessions log in so. */
const ROOT_PTY_SSHD = "pgrep -f '^sshd: root@pts/' || true";

/**
 * The sessions of the round before must be gone from the guest before the next
 * open: --all-ssh would carry one still closing, the floor would not. Closed
 * from the host, they end within a second or two; one that has not after 30 s
 * is killed, and said so.
 */
async function endSessionsBefore(vm: Vm): Promise<void> {
  const left = await pollUntil(
    async () => {
      const pids = (await vm.run(ROOT_PTY_SSHD)).trim();
      return pids === '' ? '' : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 1000, what: "the round before's ssh sessions to end" },
  ).catch(async () => (await vm.run(ROOT_PTY_SSHD)).trim());
  if (left === '') return;
  const pids = left.split(/\s+/);
  console.log(
    `bench: ${pids.length} ssh session(s) of the round before still there after 30 s: killed (${pids.join(', ')})`,
  );
  await vm.run(`kill -KILL ${pids.join(' ')} 2>/dev/null || true`);
}

/** Opens the sessions one after the other, then waits for each one's memory to be written. */
async function openSessions(
  vm: Vm,
  options: Pick<DowntimeOptions, 'sessions' | 'memMib'>,
): Promise<Carried[]> {
  await endSessionsBefore(vm);
  await vm.run(`rm -f ${MEM_CHECK_FILE}`);
  const carried: Carried[] = [];
  try {
    for (let i = 0; i < options.sessions; i++) {
      const session = vm.openSession(sessionScript(options));
      carried.push({ session, tty: '' });
      const line = await session.waitForLine(/^TTY \/dev\/pts\/\d+$/, 60_000);
      await session.waitForLine(/^tick /, 30_000);
      (carried[i] as Carried).tty = line.text.slice('TTY /dev/'.length);
    }
    if (options.memMib > 0)
      await Promise.all(carried.map((c) => c.session.waitForLine(MEM_SUM, MEMORY_TIMEOUT_MS)));
  } catch (error) {
    await closeSessions(carried);
    throw error;
  }
  return carried;
}

async function closeSessions(carried: readonly Carried[]): Promise<void> {
  await Promise.all(carried.map((c) => c.session.close()));
}

/** What the new boot says about itself, for the path and for comparing boots. */
async function bootFacts(vm: Vm, unit: string): Promise<{ journal: string; summary: string }> {
  const journal = await vm.run(
    'journalctl -b -o short-monotonic --no-pager 2>/dev/null | head -3000',
    { timeoutMs: 120_000 },
  );
  const summary = await vm.run(
    [
      'echo "cmdline: $(cat /proc/cmdline)"',
      'echo "clocksource: $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"',
      `journalctl -b -k -o short-monotonic --no-pager | grep -iE 'tsc: Marking|crng init|Run /init|soft lockup|detected stalls|RIP: 0010' | cut -c1-160`,
      'systemd-analyze 2>&1 | head -1',
      `systemd-analyze critical-chain ${unit} 2>&1 | tail -n +4 | head -12`,
      'echo "loadavg: $(cat /proc/loadavg)"',
      // Where the boot's CPU time went: busy (user, system), waiting on the disk (iowait) or idle, in clock ticks.
      'head -1 /proc/stat',
      'ps -eo comm,time --sort=-time | head -6 | tr "\\n" " "; echo',
    ].join('; '),
    { timeoutMs: 120_000 },
  );
  return {
    journal,
    summary: `${summary.trim()}\n${journal
      .split('\n')
      .filter((l) => l.includes(`Starting ${unit}`))
      .slice(0, 1)
      .join('\n')}`,
  };
}

interface LeapRun {
  runId: string;
  outcome: string;
  ptys: number[];
  downtimeMs: number | null;
}

/** kernel-leap's runs since `stamp` (one per carried session), once each has settled; throws unless each is restored. */
async function leapRuns(vm: Vm, stamp: string): Promise<LeapRun[]> {
  const listed = await vm.exec(`kernel-leap runs --since ${stamp} --wait 300 --json`, {
    timeoutMs: 360_000,
  });
  const result = JSON.parse(listed.stdout.trim().split('\n').at(-1) ?? '{}') as {
    runs?: LeapRun[];
  };
  const runs = result.runs ?? [];
  if (runs.length === 0 || runs.some((r) => r.outcome !== 'restored'))
    throw new Error(
      `not every run since ${stamp} was restored (exit ${listed.exitCode}):\n${listed.stdout}${listed.stderr}`,
    );
  return runs;
}

/** The journal's marks of one kernel-leap run, in guest ms, named as the path names them. */
async function leapMarks(vm: Vm, runId: string): Promise<PathMarks> {
  const journal = JSON.parse(
    await vm.run(`cat /var/lib/kernel-leap/runs/${runId}/journal.json`),
  ) as {
    marks: Record<string, string>;
  };
  const at = (name: string) => (journal.marks[name] ? Date.parse(journal.marks[name]) : undefined);
  return {
    freeze: at('dump.freeze'),
    dumped: at('dump.dumped'),
    kexec: at('kexec'),
    restoreUp: at('restoreUnitStart'),
    rules: at('gate.rules'),
    address: at('gate.addresses'),
    restoreStart: at('restoreStart'),
    restored: at('restored'),
    resumed: at('resumed'),
  };
}

function runOfTty(runs: readonly LeapRun[], tty: string): LeapRun {
  const pty = Number(tty.slice('pts/'.length));
  const run = runs.find((r) => r.ptys.includes(pty));
  if (!run)
    throw new Error(
      `no run of kernel-leap carried ${tty}: ${runs.map((r) => `${r.runId} (pts ${r.ptys.join(',')})`).join(', ')}`,
    );
  return run;
}

function hostLoad(): LoadAverage {
  return parseLoadAverage(readFileSync('/proc/loadavg', 'utf8'));
}

/**
 * How far back the leap's runs are listed from: the guest's clock is within a
 * second of the host's (set at the load, read from the RTC after each kexec),
 * and the round before started minutes earlier.
 */
const RUNS_SINCE_MS = 30_000;

/**
 * Starts the leap of `kind`. The leap is typed into the first session with no
 * ssh of the bench's own around it: --all-ssh would carry one still closing.
 */
async function startLeap(
  vm: Vm,
  kind: Kind,
  carried: readonly Carried[],
  to: string,
): Promise<void> {
  if (kind === 'leap') {
    carried[0]?.session.write(`${to}\n`);
    return;
  }
  const plans = [];
  for (const c of carried) plans.push(await floorPlan(vm, c.tty));
  await loadFloorKernel(vm, to, kind === 'floor-i');
  await startFloorLeap(vm, plans);
}

/** Each carried session's marks of its critical path. */
async function marksOf(
  vm: Vm,
  kind: Kind,
  carried: readonly Carried[],
  startedAt: Date,
): Promise<Array<{ marks: PathMarks; reportDowntimeMs?: number }>> {
  if (kind !== 'leap') {
    const all = await floorMarks(vm);
    return carried.map((_, i) => ({ marks: floorPathMarks(all, i) }));
  }
  const runs = await leapRuns(vm, runStamp(new Date(startedAt.getTime() - RUNS_SINCE_MS)));
  return Promise.all(
    carried.map(async (c) => {
      const run = runOfTty(runs, c.tty);
      return {
        marks: await leapMarks(vm, run.runId),
        ...(run.downtimeMs === null ? {} : { reportDowntimeMs: run.downtimeMs }),
      };
    }),
  );
}

/** Lets each memory holder check its memory, and fails loudly when one changed. */
async function checkMemory(
  vm: Vm,
  carried: readonly Carried[],
  figures: SessionFigures[],
  mib: number,
): Promise<void> {
  await vm.run(`touch ${MEM_CHECK_FILE}`);
  await Promise.all(carried.map((c) => c.session.waitForLine(/^MEM-CHECK /, MEMORY_TIMEOUT_MS)));
  carried.forEach(
    (c, i) => ((figures[i] as SessionFigures).memory = memoryCheckOf(c.session.lines, mib)),
  );
  const changed = figures.filter((f) => f.memory && !f.memory.intact);
  if (changed.length > 0)
    throw new Error(
      `the memory of ${changed.map((f) => `${f.tty} (CRC-32 ${f.memory?.before} before, ${f.memory?.after} after)`).join(', ')} changed across the leap`,
    );
}

/**
 * Waits for the caller's first tick on the new kernel, and fails at once when
 * `upgrade` exits non-zero before it (a no-go), rather than after the leap's timeout.
 */
async function upgradeGoesOn(caller: Carried, back: RegExp, from: number): Promise<void> {
  const first = await caller.session.waitForLine(
    new RegExp(`${back.source}|^UPGRADE-EXIT=[1-9]\\d*$`),
    LEAP_TIMEOUT_MS,
    from,
  );
  if (first.text.startsWith('UPGRADE-EXIT='))
    throw new Error(
      `kernel-leap upgrade did not leap (${first.text}):\n${caller.session.lines
        .slice(from)
        .filter((l) => !l.text.startsWith('tick '))
        .map((l) => l.text)
        .join('\n')}`,
    );
}

/** One round's leap of `kind`, from the kernel running (`from`, read before the sessions opened). */
async function leapOnce(
  vm: Vm,
  serial: SerialStamper,
  kind: Kind,
  carried: readonly Carried[],
  before: { from: string; load: LoadAverage },
  round: number,
): Promise<RoundRun> {
  const startedAt = new Date();
  const { from } = before;
  const to = otherKernel(vm, from);
  const serialFrom = serial.lines.length;
  const linesFrom = carried.map((c) => c.session.lines.length);
  await startLeap(vm, kind, carried, to);
  const back = new RegExp(`^tick \\d+ ${to.replaceAll('.', '\\.')}$`);
  const caller = carried[0] as Carried;
  if (kind === 'leap') await upgradeGoesOn(caller, back, linesFrom[0] as number);
  await Promise.all(
    carried.map((c, i) => c.session.waitForLine(back, LEAP_TIMEOUT_MS, linesFrom[i])),
  );
  if (kind === 'leap') await caller.session.waitForLine(/^UPGRADE-EXIT=/, 120_000, linesFrom[0]);
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
  const unit = kind === 'leap' ? 'kernel-leap-restore.service' : FLOOR_UNIT;
  const facts = await bootFacts(vm, unit);
  const marks = await marksOf(vm, kind, carried, startedAt);
  const boot = consoleBoot(serial.since(serialFrom));
  const mono = bootMonotonic(facts.journal, unit);
  const sessions = carried.map((c, i): SessionFigures => {
    const { marks: path, reportDowntimeMs } = marks[i] as (typeof marks)[number];
    const f = leapFigures(c.session.lines.slice(linesFrom[i]), path, boot, mono);
    return {
      tty: c.tty,
      downtimeMs: f.downtimeMs,
      ...(f.jumpMs === undefined ? {} : { jumpMs: f.jumpMs }),
      ...(f.withoutJumpMs === undefined ? {} : { tooldownMs: f.withoutJumpMs }),
      ...(reportDowntimeMs === undefined ? {} : { reportDowntimeMs }),
      steps: f.steps,
    };
  });
  const run: RoundRun = {
    round,
    kind,
    from,
    to,
    startedAt: startedAt.toISOString(),
    loadBefore: before.load,
    loadAfter: hostLoad(),
    sessions,
    boot: facts.summary,
  };
  if (kind !== 'leap') await removeFloorImages(vm);
  return run;
}

function printRun(run: RoundRun, label: string): void {
  console.log(`\n${label}: ${run.kind} ${run.from} -> ${run.to}`);
  for (const s of run.sessions) {
    const report =
      s.reportDowntimeMs === undefined ? '' : ` (report: ${seconds(s.reportDowntimeMs)})`;
    const memory = s.memory ? `, memory ${s.memory.intact ? 'intact' : 'CHANGED'}` : '';
    console.log(
      `  ${s.tty}: downtime ${seconds(s.downtimeMs)}${report}, jump ${seconds(s.jumpMs)}, tooldown ${seconds(s.tooldownMs)}${memory}`,
    );
    console.log(`    path: ${s.steps.map(([name, ms]) => `${name} ${seconds(ms)}`).join(', ')}`);
  }
  if (run.sessions.length > 1) console.log(`  longest tooldown: ${seconds(roundFigure(run))}`);
  console.log(
    `  host load: ${run.loadBefore.one.toFixed(2)} before, ${run.loadAfter.one.toFixed(2)} after`,
  );
  console.log(
    run.boot
      .split('\n')
      .map((l) => `  | ${l}`)
      .join('\n'),
  );
}

function hostFacts(vm: Vm): HostFacts {
  const git = (...args: string[]) => execFileSync('git', args, { encoding: 'utf8' }).trim();
  return {
    commit: git('rev-parse', '--short', 'HEAD'),
    // The bench's own files do not make the tree dirty: the run before wrote them.
    dirty: git('status', '--porcelain', '--untracked-files=no', '--', '.', ':!docs/bench') !== '',
    qemu:
      execFileSync('qemu-system-x86_64', ['--version'], { encoding: 'utf8' }).split('\n')[0] ?? '?',
    accel: vm.connection.accel,
    cpu: guestCpu(vm.connection.accel),
    cpus: cpus().length,
    kernel: release(),
  };
}

/** How this run carried its sessions, in words, for the reader of its files. */
function method(options: DowntimeOptions): string[] {
  const many = options.sessions > 1;
  return [
    `Each of ${options.sessions} ssh session${many ? 's' : ''} runs a ticker (a line every 0.2 s) read by the host's ssh client: its downtime is the longest gap between two lines; its tooldown is that without the kexec jump (the console's "Starting new kernel" to "Linux version", stamped on the host), which under TCG is noise. A round's figure is its longest tooldown.`,
    `leap: \`${upgradeCommand(options.sessions).replace('"$k"', 'KERNEL')}\` typed in the first session, on the shipped defaults.`,
    `floor: the same leap by hand with stock tools (scripts/bench-floor.ts): the kernel loaded before the freeze, ${many ? 'the trees dumped one after the other, ' : ''}the lock rules loaded before network-pre, the restore started once the dumped address is up.${many ? ' The floor restores the trees one after the other, each once the one before has resumed: stock criu restores cannot run side by side, since each takes its pty index by opening /dev/ptmx until the kernel hands it out.' : ''}`,
    ...(options.memMib > 0
      ? [
          `Each session holds ${options.memMib} MiB of written memory (a python3 process, every page different); the same process prints its CRC-32 before the leap and checks it after.`,
        ]
      : []),
  ];
}

async function alternate(vm: Vm, serial: SerialStamper, options: DowntimeOptions): Promise<void> {
  // Read before the first round: the commit the package was built from, and a failure here costs no round.
  const host = hostFacts(vm);
  const runs: RoundRun[] = [];
  const results = (error?: string): BenchResults => {
    const summary = summarize(runs);
    const base = againstOneIdleSession(options.outDir, options, summary);
    return {
      bench: 'downtime',
      date: new Date().toISOString(),
      options,
      host,
      guest: {
        dist: vm.connection.dist,
        kernels: [vm.connection.oldKernel, vm.connection.newKernel],
        booted: vm.restored ? 'state' : 'cold',
      },
      method: method(options),
      runs,
      summary: base ? { ...summary, againstOneIdleSession: base } : summary,
      ...(error === undefined ? {} : { error }),
    };
  };
  try {
    for (let round = 1; round <= options.rounds; round++) {
      for (const kind of options.kinds) {
        const before = { from: await runningKernel(vm), load: hostLoad() };
        const carried = await openSessions(vm, options);
        try {
          const run = await leapOnce(vm, serial, kind, carried, before, round);
          // Kept before the memory check, so a changed memory is written with the round that changed it.
          runs.push(run);
          try {
            if (options.memMib > 0) await checkMemory(vm, carried, run.sessions, options.memMib);
          } finally {
            printRun(run, `round ${round}`);
          }
        } finally {
          await closeSessions(carried);
        }
      }
    }
  } catch (error) {
    const written = writeResults(results(error instanceof Error ? error.message : String(error)));
    console.log(`\nthe run stopped; what it measured is in ${written.json} and ${written.table}`);
    throw error;
  }
  const done = results();
  console.log(`\n${summaryLines(done).join('\n')}`);
  const written = writeResults(done);
  console.log(`written: ${written.json}, ${written.table}`);
}

async function leapsInARow(vm: Vm, serial: SerialStamper, leaps: number): Promise<void> {
  let from = await runningKernel(vm);
  const carried = await openSessions(vm, { sessions: 1, memMib: 0 });
  const runs: RoundRun[] = [];
  try {
    for (let i = 1; i <= leaps; i++) {
      const before = { from, load: hostLoad() };
      const run = await leapOnce(vm, serial, 'leap', carried, before, i);
      from = run.to;
      runs.push(run);
      printRun(run, `leap ${i} of one session`);
      const first = runs[0] && roundFigure(runs[0]);
      const figure = roundFigure(run);
      const drift =
        first && figure !== undefined ? `${(((figure - first) / first) * 100).toFixed(0)} %` : '?';
      console.log(`  drift from the first, tooldown: ${drift}`);
    }
  } finally {
    await closeSessions(carried);
  }
}

export async function benchDowntime(args: readonly string[]): Promise<void> {
  const options = parseDowntimeOptions(args);
  const vm = await bootGuest({ log: (l) => console.log(`bench: ${l}`) });
  const serial = new SerialStamper(vm.connection.serialLog);
  try {
    // The shipped defaults: an empty config file.
    await installKernelLeap(vm);
    await installFloor(vm);
    if (options.leaps !== undefined) await leapsInARow(vm, serial, options.leaps);
    else await alternate(vm, serial, options);
  } finally {
    serial.stop();
    await vm.stop();
  }
}
