/**
 * The options of `npm run bench -- downtime`, read once and checked before a
 * guest boots: a typo found after a 40-minute run is a run lost.
 */
import { parseArgs } from 'node:util';

/** floor-i: the floor with purgatory's check off (kexec -l -i), to tell its effect apart. */
export const KINDS = ['floor', 'floor-i', 'leap'] as const;
export type Kind = (typeof KINDS)[number];

/**
 * The guest has 2 GiB of RAM and a 2 GB disk: the held memory of every session
 * and the images of its dump (as large again) must both fit beside the system.
 */
export const MAX_HELD_MIB = 1024;
/** More sessions than this would not fit the guest's memory beside their sshd and shells under TCG. */
export const MAX_SESSIONS = 12;
export const DEFAULT_OUT_DIR = 'docs/bench';

export interface DowntimeOptions {
  /** Rounds of `kinds`, each kind once a round, alternating. */
  rounds: number;
  kinds: Kind[];
  /** With it, one session leapt this many times in a row instead of rounds (a drift check; no files written). */
  leaps?: number;
  /** ssh sessions carried at once, each with its own ticker. */
  sessions: number;
  /** MiB of written memory each session holds, checked intact after the leap. */
  memMib: number;
  /** Where the results are written. */
  outDir: string;
}

const USAGE =
  'npm run bench -- downtime [--rounds N] [--kinds floor,leap] [--sessions N] [--mem MiB] [--out DIR] | [--leaps N]';

export function parseDowntimeOptions(args: readonly string[]): DowntimeOptions {
  let values: Record<string, string | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: {
        rounds: { type: 'string' },
        kinds: { type: 'string' },
        leaps: { type: 'string' },
        sessions: { type: 'string' },
        mem: { type: 'string' },
        out: { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new Error(`${(error as Error).message}\nusage: ${USAGE}`);
  }
  const options: DowntimeOptions = {
    rounds: count(values.rounds, '--rounds', 3, 1),
    kinds: kindsOf(values.kinds),
    sessions: count(values.sessions, '--sessions', 1, 1),
    memMib: count(values.mem, '--mem', 0, 0),
    outDir: values.out ?? DEFAULT_OUT_DIR,
    ...(values.leaps === undefined ? {} : { leaps: count(values.leaps, '--leaps', 3, 1) }),
  };
  return checked(options, values);
}

function checked(
  options: DowntimeOptions,
  given: Record<string, string | undefined>,
): DowntimeOptions {
  if (options.sessions > MAX_SESSIONS)
    throw new Error(`--sessions takes at most ${MAX_SESSIONS}, not ${options.sessions}`);
  const held = options.sessions * options.memMib;
  if (held > MAX_HELD_MIB)
    throw new Error(
      `--sessions ${options.sessions} × --mem ${options.memMib} holds ${held} MiB: at most ${MAX_HELD_MIB} MiB fit the guest (2 GiB of RAM, and a 2 GB disk for the images, as large again)`,
    );
  if (options.leaps !== undefined) {
    const clash = ['rounds', 'kinds', 'sessions', 'mem', 'out'].filter((k) => given[k]);
    if (clash.length > 0)
      throw new Error(
        `--leaps leaps one idle session in a row and writes no file: it takes no ${clash.map((k) => `--${k}`).join(', ')}`,
      );
  }
  return options;
}

function count(text: string | undefined, name: string, fallback: number, min: number): number {
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text) || Number(text) < min)
    throw new Error(`${name} takes a whole number of at least ${min}, not ${JSON.stringify(text)}`);
  return Number(text);
}

function kindsOf(text: string | undefined): Kind[] {
  if (text === undefined) return ['floor', 'leap'];
  const kinds = text.split(',');
  const unknown = kinds.filter((k) => !(KINDS as readonly string[]).includes(k));
  if (unknown.length > 0)
    throw new Error(`--kinds takes ${KINDS.join(', ')}; not ${unknown.join(', ')}`);
  return kinds as Kind[];
}
