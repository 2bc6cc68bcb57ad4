/**
 * What `upgrade` hands its worker: the sessions, the options, `--pre` and the
 * config's source (`--config`, and every `--set` and KERNEL_LEAP_* override). A
 * command line is every user's to read (/proc/PID/cmdline, `ps`, and `systemctl
 * show` for a unit's ExecStart=), and a `--pre` or a setting may hold what only
 * root should see, so they travel in `<run>/worker-input.json`, 0600 in the
 * caller's 0700 run dir, and the worker's argv names only that file.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

import * as z from 'zod/mini';

import { LeapError } from '../errors.js';
import { jsonText } from '../tools/printable.js';
import { writeFileAtomic } from './atomic.js';
import { parseJsonWith } from './json-schema.js';

export const WORKER_INPUT_FILE = 'worker-input.json';
/** `--pre` as sh reads it: from a file, where `sh -c CMD` would show CMD to everyone. */
export const PRE_SCRIPT = 'pre.sh';

const session = z.object({ runId: z.string(), rootPid: z.number() });

const workerOptions = z.object({
  runId: z.string(),
  /** In callerPidNs: the foreground may run inside a restored session's pid namespace. */
  rootPid: z.number(),
  /** `upgrade --all-ssh`: the other sessions, each with a run of its own, dumped before this one. */
  others: z.array(session),
  /** The foreground process that hands off to the launcher shell; it must be gone before the dump. */
  waitPid: z.optional(z.number()),
  callerPidNs: z.optional(z.string()),
  rehearse: z.boolean(),
  exec: z.boolean(),
  pre: z.optional(z.string()),
  kernel: z.optional(z.string()),
  /** 'rehearse' stops after the rehearsal. */
  mode: z.enum(['upgrade', 'rehearse']),
  /** The longest any tree's dump may take, from its memory at the plan: the settle waits as long for criu. */
  dumpBoundMs: z.number(),
});

const workerInput = z.object({
  schema: z.literal(1),
  /** The foreground's config: its file, and its overrides as `section.key=value`. */
  config: z.object({ file: z.optional(z.string()), overrides: z.array(z.string()) }),
  worker: workerOptions,
});

export type WorkerOptions = z.output<typeof workerOptions>;
export type WorkerInput = z.output<typeof workerInput>;

/** Writes the input into `runDir`, owner-only whatever the umask, and returns its path. */
export function writeWorkerInput(runDir: string, input: Omit<WorkerInput, 'schema'>): string {
  const path = join(runDir, WORKER_INPUT_FILE);
  writeFileAtomic(path, `${jsonText({ schema: 1, ...input }, 2)}\n`);
  return path;
}

/** Writes `--pre` for `/bin/sh FILE` into `runDir`, owner-only, and returns its path. */
export function writePreScript(runDir: string, pre: string): string {
  const path = join(runDir, PRE_SCRIPT);
  writeFileAtomic(path, `${pre}\n`);
  return path;
}

/**
 * The worker's input, refused unless it is our own owner-only file (whoever could
 * write it would choose what root runs) and of the shape written above.
 */
export function readWorkerInput(path: string): WorkerInput {
  let text: string;
  try {
    assertOwnerOnly(path);
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    if (cause instanceof LeapError) throw cause;
    throw invalid(path, `cannot be read (${(cause as Error).message})`, cause);
  }
  return parseJsonWith(text, workerInput, (why, cause) => invalid(path, why, cause));
}

function assertOwnerOnly(path: string): void {
  const stat = statSync(path);
  const uid = process.getuid?.();
  if ((stat.mode & 0o077) !== 0 || (uid !== undefined && stat.uid !== uid))
    throw invalid(
      path,
      `is open to others (mode ${(stat.mode & 0o777).toString(8)}, owner ${stat.uid})`,
    );
}

function invalid(path: string, why: string, cause?: unknown): LeapError {
  return new LeapError('WORKER_INPUT_INVALID', `the worker's input ${path} ${why}`, {
    hint: '`upgrade` writes this file for the worker it starts; start the leap again with `kernel-leap upgrade`, and do not run the worker by hand',
    cause,
  });
}
