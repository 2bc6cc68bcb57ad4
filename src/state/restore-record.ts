/**
 * The record the restore script (templates/restore-tree.sh.hbs) leaves in its run
 * dir: the marks it took, how far it got, and criu's launcher. Node's restore reads
 * it after each run of the script, the boot's included, and carries on from it.
 * One `key=value` a line, checked here against its schema; only a record of this
 * boot counts. It holds no path: a FIFO, a socket directory or a file is named by
 * its index in the manifest.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

// zod/mini, as the journal's: the boot-time restore starts faster without the classic API.
import * as z from 'zod/mini';

import { ExitCode, LeapError } from '../errors.js';

/** The boot's rendering, which restore-boot.sh runs, and the record it leaves. */
export const BOOT_SCRIPT = { script: 'restore-fast.sh', record: 'fast-restore' } as const;
/** Node's own rendering, with this restore's launch, and its record. */
export const NODE_SCRIPT = { script: 'restore-node.sh', record: 'node-restore' } as const;
export type ScriptFiles = typeof BOOT_SCRIPT | typeof NODE_SCRIPT;

/** What the resume (templates/resume-trees.sh.hbs) did for the run's tree, and when. */
export const RESUMED = 'resumed';

export interface Resumed {
  /** The instant the tree's last process was resumed: the session is back. */
  at: Date;
  /** Pids in the tree's namespace, in the order they were resumed (deepest first). */
  resumed: number[];
  /** Pids stopped at the dump, left stopped. */
  kept: number[];
}

/** The run's `resumed` of this boot: its tree was resumed; undefined before. */
export function readResumed(runDir: string, bootId: string): Resumed | undefined {
  const path = join(runDir, RESUMED);
  if (!existsSync(path)) return undefined;
  const fields = readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]);
  const pids = (key: string) => fields.filter(([k]) => k === key).map(([, v]) => Number(v));
  const boot = fields.find(([k]) => k === 'boot')?.[1];
  const at = Number(fields.find(([k]) => k === 'at')?.[1]);
  if (boot !== bootId || !Number.isInteger(at)) return undefined;
  return { at: new Date(at), resumed: pids('cont'), kept: pids('kept') };
}

/** Why the script stopped before criu's launch: a gate's mark name when that gate timed out. */
export const GAVE_UP = [
  'no-ip',
  'gate.devpts',
  'gate.rules',
  'gate.addresses',
  'pty-taken',
  'fifo',
  'socket-dir',
  'file',
  'sysctl',
] as const;

/**
 * Why a FIFO or a socket directory was not made (templates/restore-tree.sh.hbs,
 * make_fifo), or a file held by path was refused (same_file): `changed`, not the
 * dump's; `unsafe`, reached through a symlink a user could have made.
 */
export const PATH_REFUSED = ['changed', 'unsafe', 'failed'] as const;

/**
 * What became of an address put back early (templates/restore-tree.sh.hbs,
 * early_address): `up`, put back; `there`, on its interface already; `taken`, on
 * another interface, so not this one's to take; `no-device`, its interface never
 * named; `failed`, ip refused. In each but the first two the gate waits for the
 * network stack.
 */
export const EARLY_ADDRESS = ['up', 'there', 'taken', 'no-device', 'failed'] as const;

export type EarlyAddressState = (typeof EARLY_ADDRESS)[number];

const whole = z.pipe(
  z.string().check(z.regex(/^\d+$/)),
  z.transform((v) => Number(v)),
);

const recordSchema = z.strictObject({
  boot: z.string(),
  gaveUp: z.optional(z.enum(GAVE_UP)),
  item: z.optional(whole),
  why: z.optional(z.enum(PATH_REFUSED)),
  /** How criu's launch ended: the tasks resumed, criu ended first, or neither in time. */
  outcome: z.optional(z.enum(['restored', 'ended', 'timeout'])),
  launcher: z.optional(whole),
  /** How many times criu was launched again after a restore beside it held its pty index for a moment. */
  relaunched: z.optional(whole),
  /** Marks by name (restoreUnitStart, gate.*, restoreStart, restored), in ms since the epoch. */
  marks: z.record(z.string(), whole),
  /** The socket directories it made, by index. */
  socketDirs: z.array(whole),
  /** Each early address, by its index in the manifest. */
  early: z.record(z.string().check(z.regex(/^\d+$/)), z.enum(EARLY_ADDRESS)),
});

export type RestoreRecord = Omit<z.output<typeof recordSchema>, 'marks'> & {
  marks: Map<string, Date>;
};

/** The record `files` names in the run dir, if the script left one on this boot. */
export function readRestoreRecord(
  runDir: string,
  files: ScriptFiles,
  bootId: string,
): RestoreRecord | undefined {
  const path = join(runDir, files.record);
  if (!existsSync(path)) return undefined;
  const record = parseRestoreRecord(readFileSync(path, 'utf8'), path);
  return record.boot === bootId ? record : undefined;
}

export function parseRestoreRecord(text: string, path: string): RestoreRecord {
  const raw: Record<string, unknown> & {
    marks: Record<string, string>;
    early: Record<string, string>;
    socketDirs: string[];
  } = { marks: {}, early: {}, socketDirs: [] };
  for (const line of text.split('\n').filter(Boolean)) {
    const at = line.indexOf('=');
    const [key, value] = at < 0 ? [line, ''] : [line.slice(0, at), line.slice(at + 1)];
    if (key.startsWith('mark.')) raw.marks[key.slice('mark.'.length)] = value;
    else if (key.startsWith('early.')) raw.early[key.slice('early.'.length)] = value;
    else if (key === 'socketDir') raw.socketDirs.push(value);
    else raw[key] = value;
  }
  const parsed = recordSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field =
      issue?.code === 'unrecognized_keys'
        ? issue.keys.join(', ')
        : (issue?.path ?? []).map(String).join('.');
    throw new LeapError(
      'RESTORE_RECORD_INVALID',
      `the restore script's record ${path} has a wrong field: ${field}`,
      {
        hint: 'the record is written by the run dir script beside it; read both for a post-mortem',
        exit: ExitCode.restoreFailed,
      },
    );
  }
  const { marks, ...rest } = parsed.data;
  return {
    ...rest,
    marks: new Map(Object.entries(marks).map(([name, ms]) => [name, new Date(ms)])),
  };
}
