/**
 * `npm run bench -- downtime [--rounds N] [--kinds K,K] [--leaps N]`: in one bookworm guest with
 * kernel-leap installed on its shipped defaults, a ticker session (a line every
 * 0.2 s, stamped on the host) is carried to the other kernel, alternately by the
 * floor (bench-floor.ts) and by `kernel-leap upgrade --yes` typed in the session.
 * Each run prints its downtime (the ticker's longest gap), the kexec jump from the
 * host-stamped console, the downtime without the jump, and the critical path; the
 * end, the ratio of the leap's downtime without the jump to the floor's (issue 15).
 * --kinds floor,floor-i,leap sets what each round runs (floor-i: the floor with
 * kexec -l -i). With --leaps N, one session is leapt N times in a row instead,
 * and each leap's drift from the first is printed. Under TCG the jump is noise
 * (docs/criu-facts.md §19), and so is a stall of QEMU 7.2's TCG after a kexec: CPU 0
 * stuck for minutes zeroing pages (soft lockup in clear_page_erms), QEMU's vCPU
 * thread busy invalidating translated code (page_collection_lock, qht_remove).
 * It hits the floor as it hits the leap; with purgatory's check off (-i) it can land
 * in the jump instead. Each run prints the boot's soft lockups, so read both
 * figures, with and without the jump, with them.
 */
import { installKernelLeap, waitForOutcome } from '../test/helpers/leap.js';
import { bootGuest, type Vm } from '../test/helpers/vm-boot.js';
import type { VmSession } from '../test/helpers/vm-session.js';
import {
  FLOOR_UNIT,
  floorMarks,
  floorPlan,
  installFloor,
  loadFloorKernel,
  startFloorLeap,
} from './bench-floor.js';
import {
  bootMonotonic,
  type LeapFigures,
  leapFigures,
  type PathMarks,
  seconds,
} from './bench-path.js';
import { consoleBoot, SerialStamper } from './bench-serial.js';

/** floor-i: the floor with purgatory's check off (kexec -l -i), to tell its effect apart. */
const KINDS = ['floor', 'floor-i', 'leap'] as const;
type Kind = (typeof KINDS)[number];

const TRIGGER = '/root/bench-leap';
/**
 * The ticker, and a loop that runs `upgrade` in this very session when the host
 * writes a kernel into TRIGGER. Both end with the terminal, so a closed session
 * leaves nothing running to slow the runs after it.
 */
const SESSION = [
  'echo "TTY $(tty)"',
  '( while echo "tick $(date +%s%N) $(uname -r)"; do sleep 0.2; done ) &',
  `while [ -t 1 ]; do if [ -s ${TRIGGER} ]; then k=$(cat ${TRIGGER}); rm -f ${TRIGGER}; kernel-leap upgrade --yes --kernel "$k"; echo "UPGRADE-EXIT=$?"; fi; sleep 0.2; done`,
].join('\n');

/** How long one leap may take, jump included (the jump alone has taken 320 s under load). */
const LEAP_TIMEOUT_MS = 600_000;
/** Ticks gathered on the new boot before its figures are read: enough to set its clock offset. */
const SETTLE_MS = 4000;

interface Run {
  kind: Kind;
  from: string;
  to: string;
  figures: LeapFigures;
  reportDowntimeMs?: number;
  boot: string;
}

function otherKernel(vm: Vm, running: string): string {
  return running === vm.connection.oldKernel ? vm.connection.newKernel : vm.connection.oldKernel;
}

async function openTicker(vm: Vm): Promise<{ session: VmSession; tty: string }> {
  const session = vm.openSession(SESSION);
  const line = await session.waitForLine(/^TTY \/dev\/pts\/\d+$/, 60_000);
  await session.waitForLine(/^tick /, 30_000);
  return { session, tty: line.text.slice('TTY /dev/'.length) };
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

/** The journal's marks of kernel-leap's latest run, in guest ms, named as the path names them. */
async function leapMarks(vm: Vm): Promise<{ marks: PathMarks; reportDowntimeMs?: number }> {
  const journal = JSON.parse(await vm.run('cat /var/lib/kernel-leap/latest/journal.json')) as {
    marks: Record<string, string>;
  };
  const at = (name: string) => (journal.marks[name] ? Date.parse(journal.marks[name]) : undefined);
  const report = JSON.parse(
    (await vm.run('kernel-leap report --json')).trim().split('\n').at(-1) ?? '{}',
  ) as { downtimeMs?: number };
  return {
    marks: {
      freeze: at('dump.freeze'),
      dumped: at('dump.dumped'),
      kexec: at('kexec'),
      restoreUp: at('restoreUnitStart'),
      rules: at('gate.rules'),
      address: at('gate.addresses'),
      restoreStart: at('restoreStart'),
      restored: at('restored'),
      resumed: at('resumed'),
    },
    reportDowntimeMs: report.downtimeMs,
  };
}

async function leapOnce(
  vm: Vm,
  serial: SerialStamper,
  kind: Kind,
  ticker: { session: VmSession; tty: string },
): Promise<Run> {
  const from = (await vm.run('uname -r')).trim();
  const to = otherKernel(vm, from);
  const serialFrom = serial.lines.length;
  const linesFrom = ticker.session.lines.length;
  if (kind !== 'leap') {
    const plan = await floorPlan(vm, ticker.tty);
    await loadFloorKernel(vm, to, kind === 'floor-i');
    await startFloorLeap(vm, plan);
  } else {
    await vm.run(`echo ${to} > ${TRIGGER}`);
  }
  const back = await ticker.session.waitForLine(
    new RegExp(`^tick \\d+ ${to.replaceAll('.', '\\.')}$`),
    LEAP_TIMEOUT_MS,
    linesFrom,
  );
  if (kind === 'leap') {
    await waitForOutcome(vm, /^restored$/, 120_000);
    await ticker.session.waitForLine(/^UPGRADE-EXIT=/, 60_000, back.index);
  }
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
  const unit = kind === 'leap' ? 'kernel-leap-restore.service' : FLOOR_UNIT;
  const facts = await bootFacts(vm, unit);
  const { marks, reportDowntimeMs } =
    kind !== 'leap'
      ? { marks: await floorMarks(vm), reportDowntimeMs: undefined }
      : await leapMarks(vm);
  const figures = leapFigures(
    ticker.session.lines.slice(linesFrom),
    marks,
    consoleBoot(serial.since(serialFrom)),
    bootMonotonic(facts.journal, unit),
  );
  return { kind, from, to, figures, reportDowntimeMs, boot: facts.summary };
}

function printRun(run: Run, label: string): void {
  const f = run.figures;
  const report =
    run.reportDowntimeMs === undefined ? '' : ` (report: ${seconds(run.reportDowntimeMs)})`;
  console.log(`\n${label}: ${run.kind} ${run.from} -> ${run.to}`);
  console.log(
    `  downtime ${seconds(f.downtimeMs)}${report}, jump ${seconds(f.jumpMs)}, without the jump ${seconds(f.withoutJumpMs)}`,
  );
  console.log(`  path: ${f.steps.map(([name, ms]) => `${name} ${seconds(ms)}`).join(', ')}`);
  console.log(
    run.boot
      .split('\n')
      .map((l) => `  | ${l}`)
      .join('\n'),
  );
}

function mean(values: ReadonlyArray<number | undefined>): number | undefined {
  const known = values.filter((v): v is number => v !== undefined);
  return known.length ? known.reduce((a, b) => a + b, 0) / known.length : undefined;
}

async function alternate(
  vm: Vm,
  serial: SerialStamper,
  rounds: number,
  kinds: readonly Kind[],
): Promise<void> {
  const runs: Run[] = [];
  for (let round = 1; round <= rounds; round++) {
    for (const kind of kinds) {
      const ticker = await openTicker(vm);
      try {
        const run = await leapOnce(vm, serial, kind, ticker);
        runs.push(run);
        printRun(run, `round ${round}`);
      } finally {
        await ticker.session.close();
      }
    }
  }
  const distinct = [...new Set(kinds)];
  const meanOf = (pick: (f: LeapFigures) => number | undefined) =>
    Object.fromEntries(
      distinct.map((k) => [k, mean(runs.filter((r) => r.kind === k).map((r) => pick(r.figures)))]),
    );
  // Whole downtimes too: under QEMU 7.2's TCG the kexec's stall can land in the jump or after it (issue 15).
  const whole = meanOf((f) => f.downtimeMs);
  const means = meanOf((f) => f.withoutJumpMs);
  console.log(
    `\nmean per kind, downtime: ${distinct.map((k) => `${k} ${seconds(whole[k])}`).join(', ')}`,
  );
  console.log(
    `mean per kind, without the jump: ${distinct.map((k) => `${k} ${seconds(means[k])}`).join(', ')}`,
  );
  const { floor, leap } = means;
  if (floor && leap) console.log(`ratio leap/floor without the jump: ${(leap / floor).toFixed(2)}`);
}

async function leapsInARow(vm: Vm, serial: SerialStamper, leaps: number): Promise<void> {
  const ticker = await openTicker(vm);
  const runs: Run[] = [];
  try {
    for (let i = 1; i <= leaps; i++) {
      const run = await leapOnce(vm, serial, 'leap', ticker);
      runs.push(run);
      printRun(run, `leap ${i} of one session`);
      const first = runs[0]?.figures.withoutJumpMs;
      const drift =
        first && run.figures.withoutJumpMs !== undefined
          ? `${(((run.figures.withoutJumpMs - first) / first) * 100).toFixed(0)} %`
          : '?';
      console.log(`  drift from the first, without the jump: ${drift}`);
    }
  } finally {
    await ticker.session.close();
  }
}

function option(args: readonly string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}

function kindsOf(args: readonly string[]): Kind[] {
  const i = args.indexOf('--kinds');
  if (i < 0) return ['floor', 'leap'];
  const kinds = (args[i + 1] ?? '').split(',');
  const unknown = kinds.filter((k) => !(KINDS as readonly string[]).includes(k));
  if (unknown.length > 0)
    throw new Error(`--kinds takes ${KINDS.join(', ')}; not ${unknown.join(', ')}`);
  return kinds as Kind[];
}

export async function benchDowntime(args: readonly string[]): Promise<void> {
  const vm = await bootGuest({ log: (l) => console.log(`bench: ${l}`) });
  const serial = new SerialStamper(vm.connection.serialLog);
  try {
    // The shipped defaults: an empty config file.
    await installKernelLeap(vm);
    await installFloor(vm);
    if (args.includes('--leaps')) await leapsInARow(vm, serial, option(args, '--leaps', 3));
    else await alternate(vm, serial, option(args, '--rounds', 2), kindsOf(args));
  } finally {
    serial.stop();
    await vm.stop();
  }
}
