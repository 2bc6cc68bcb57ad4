/**
 * One leap's figures on the host's clock: the downtime the ticker showed, the
 * kexec jump from the stamped console, and the critical path from marks taken on
 * three clocks (the old boot's, the new boot's, the host's). Each guest clock is
 * put on the host's by its ticks: a tick carries the guest's time and arrives a
 * little later, so the largest (guest - arrival) over a boot's ticks is that
 * boot's offset, off by the smallest latency only.
 */
import type { StampedLine } from '../test/helpers/vm-session.js';
import { type ConsoleBoot } from './bench-serial.js';

export const TICK = /^tick (\d+) (\S+)$/;

interface Tick {
  guestMs: number;
  kernel: string;
  at: number;
  mono: number;
}

function ticksOf(lines: readonly StampedLine[]): Tick[] {
  return lines.flatMap((l) => {
    const m = TICK.exec(l.text);
    return m
      ? [{ guestMs: Number(m[1]) / 1e6, kernel: m[2] as string, at: l.at, mono: l.mono }]
      : [];
  });
}

/** The instants a boot's journal and dmesg give, in seconds since the kernel's start. */
export interface BootMonotonic {
  runInit?: number;
  systemdStart?: number;
  unitStart?: number;
  networkTarget?: number;
}

/** Guest wall-clock ms of each mark, named as the path names them. */
export interface PathMarks {
  freeze?: number;
  dumped?: number;
  kexec?: number;
  /** kernel-leap only: the restore unit's script (restore-fast.sh) has started. */
  restoreUp?: number;
  rules?: number;
  address?: number;
  restoreStart?: number;
  restored?: number;
  /** The session's tree resumed: criu leaves it stopped until every tree is restored. */
  resumed?: number;
}

export interface LeapFigures {
  downtimeMs: number;
  jumpMs: number | undefined;
  withoutJumpMs: number | undefined;
  /** Each step's length in ms, in the order of the critical path. */
  steps: Array<[string, number | undefined]>;
}

/**
 * `lines` are the session's lines from before the leap's start; the longest gap
 * between ticks is the downtime, and splits the ticks into the two boots.
 */
export function leapFigures(
  lines: readonly StampedLine[],
  marks: PathMarks,
  boot: ConsoleBoot,
  mono: BootMonotonic,
): LeapFigures {
  const ticks = ticksOf(lines);
  let gapAt = 1;
  for (let i = 1; i < ticks.length; i++)
    if (
      (ticks[i] as Tick).mono - (ticks[i - 1] as Tick).mono >
      (ticks[gapAt] as Tick).mono - (ticks[gapAt - 1] as Tick).mono
    )
      gapAt = i;
  const before = ticks.slice(0, gapAt);
  const after = ticks.slice(gapAt);
  const downtimeMs = (after[0]?.mono ?? 0) - (before.at(-1)?.mono ?? 0);
  const oldHost = onHost(before);
  const newHost = onHost(after);
  const atMono = (s: number | undefined) =>
    s === undefined || boot.kernelStart === undefined ? undefined : boot.kernelStart + s * 1000;
  const instants: Array<[string, number | undefined]> = [
    ['freeze', oldHost(marks.freeze)],
    ['dump', oldHost(marks.dumped)],
    ['sync', oldHost(marks.kexec)],
    ['shutdown', boot.jumpStart],
    ['jump', boot.kernelStart],
    ['kernel', boot.runInit ?? atMono(mono.runInit)],
    ['init', atMono(mono.systemdStart)],
    ['systemd', atMono(mono.unitStart)],
    ...(marks.restoreUp === undefined
      ? []
      : [['restore up', newHost(marks.restoreUp)] as [string, number | undefined]]),
    ['rules', newHost(marks.rules)],
    ['address', newHost(marks.address)],
    ['prepare', newHost(marks.restoreStart)],
    ['restore', newHost(marks.restored)],
    ...(marks.resumed === undefined
      ? []
      : [['resume', newHost(marks.resumed)] as [string, number | undefined]]),
    ['first output', after[0]?.at],
  ];
  const steps = instants.slice(1).map(([name, at], i): [string, number | undefined] => {
    const start = instants[i]?.[1];
    return [name, at === undefined || start === undefined ? undefined : at - start];
  });
  const jumpMs =
    boot.jumpStart !== undefined && boot.kernelStart !== undefined
      ? boot.kernelStart - boot.jumpStart
      : undefined;
  return {
    downtimeMs,
    jumpMs,
    withoutJumpMs: jumpMs === undefined ? undefined : downtimeMs - jumpMs,
    steps,
  };
}

function onHost(ticks: readonly Tick[]): (guestMs: number | undefined) => number | undefined {
  const offset = Math.max(...ticks.map((t) => t.guestMs - t.at));
  return (guestMs) =>
    guestMs === undefined || !Number.isFinite(offset) ? undefined : guestMs - offset;
}

/** `journalctl -b -o short-monotonic` and dmesg lines to the instants above. */
export function bootMonotonic(journal: string, unit: string): BootMonotonic {
  const at = (pattern: RegExp) => {
    const m = journal
      .split('\n')
      .find((l) => pattern.test(l))
      ?.match(/^\[\s*([\d.]+)\]/);
    return m ? Number(m[1]) : undefined;
  };
  return {
    runInit: at(/Run \/init as init process/),
    systemdStart: at(/systemd\[1\]: systemd \S+ running in system mode/),
    unitStart: at(new RegExp(`Starting ${unit.replaceAll('.', '\\.')}`)),
    networkTarget: at(/Reached target network\.target/),
  };
}

export function seconds(ms: number | undefined): string {
  return ms === undefined ? '?' : `${(ms / 1000).toFixed(1)} s`;
}
