/**
 * criu adapter. Always runs with CRIU_CONFIG_FILE cleared (with --no-default-config
 * in the argv, docs/criu-facts.md §6) and turns a failure into an error that quotes the
 * log's Error lines with context, as runc's logCriuErrors does.
 */
import { existsSync, readFileSync } from 'node:fs';

import { isLeapError, LeapError } from '../errors.js';
import type { Runner } from './runner.js';

const CONTEXT_LINES = 5;

/** Known failure signatures (docs/criu-facts.md §15) and what to do. */
const KNOWN_FAILURES: ReadonlyArray<{ pattern: RegExp; hint: string }> = [
  {
    pattern: /Can't lookup mount=\d+ for fd=\d+/,
    hint: 'a file of another mount namespace (logind FIFO) is not declared external; rerun `kernel-leap plan` and report it if it is not listed',
  },
  {
    pattern: /Can't dump ghost file .* increase limit/,
    hint: 'a deleted file is larger than --ghost-limit; set [criu] extra_dump_args = --ghost-limit 64M',
  },
  {
    pattern: /Can't dump half of stream unix connection/,
    hint: 'a unix stream socket talks to a process outside the session; it must be declared with --external unix[INO]',
  },
  {
    pattern: /Can't bind inet socket back|Cannot assign requested address/,
    hint: "the connection's local address is not configured yet; raise [restore] address_timeout",
  },
  {
    pattern: /Aborting restore due to pre-restore script/,
    hint: "kernel-leap's action script refused to put back a file the session held: its path is a symlink or another's file now, which criu would open in its place; held-files.log in the run dir says which (its index in held-files.json), remove what is there, then `kernel-leap restore --run ID`",
  },
  {
    pattern: /Can't open file .* on restore/,
    hint: 'a file the session held is not at its path: if the boot cleared it, held-files.log in the run dir says whether kernel-leap put it back and why not; put it there again (same size and mode), then `kernel-leap restore --run ID`',
  },
  {
    pattern: /File .* has bad size/,
    hint: 'a regular file the session held open changed size between the dump and the restore; keep writers away from it, or report it if kernel-leap wrote it',
  },
  {
    pattern: /has bad mode/,
    hint: 'a file recreated for the restore has another mode than the image expects (a FIFO must be mode 0600)',
  },
  {
    pattern: /vdso: Unexpected rt vDSO area bounds/,
    hint: 'this CRIU does not support the running kernel',
  },
  {
    pattern: /PR_SET_MM_MAP.*(EACCES|-13)|prctl\(PR_SET_MM_MAP\) failed/,
    hint: "the restored executable has no exec bit (dpkg chmod); kernel-leap chmods it before the dump: check the journal's changes",
  },
  {
    pattern: /EEXIST|File exists.*pid/i,
    hint: 'a pid of the session is taken; restore in a fresh pid namespace',
  },
];

export interface CriuFailure {
  excerpt: string;
  hint: string | undefined;
}

/** The log's `Error` lines, each with up to five lines before it. */
export function criuLogErrors(log: string): CriuFailure {
  const lines = log.split('\n');
  const picked = new Set<number>();
  lines.forEach((line, i) => {
    if (/\bError\b|^\(\d+\.\d+\) Error/.test(line))
      for (let j = Math.max(0, i - CONTEXT_LINES); j <= i; j++) picked.add(j);
  });
  const excerpt = [...picked]
    .sort((a, b) => a - b)
    .map((i) => lines[i])
    .join('\n');
  const hint = KNOWN_FAILURES.find((k) => k.pattern.test(log))?.hint;
  return { excerpt, hint };
}

export interface CriuCall {
  args: string[];
  logFile: string;
  timeoutMs: number;
  action: 'dump' | 'restore' | 'check';
  /** Run criu inside this process's pid and mount namespaces (nsenter forks into the pid one). */
  insideNamespacesOf?: number;
}

/** The argv runCriu runs: criu itself, or nsenter into a restored session's namespaces first. */
export function criuCommand(
  args: readonly string[],
  insideNamespacesOf?: number,
): [string, ...string[]] {
  return insideNamespacesOf === undefined
    ? ['criu', ...args]
    : [
        'nsenter',
        '--target',
        String(insideNamespacesOf),
        '--pid',
        '--mount',
        '--',
        'criu',
        ...args,
      ];
}

export async function runCriu(runner: Runner, call: CriuCall): Promise<void> {
  const [file, ...args] = criuCommand(call.args, call.insideNamespacesOf);
  try {
    await runner.run({
      file,
      args,
      timeoutMs: call.timeoutMs,
      env: { CRIU_CONFIG_FILE: undefined },
    });
  } catch (error) {
    if (isLeapError(error) && error.code === 'TOOL_MISSING') throw error;
    throw criuError(call.action, call.logFile, error);
  }
}

/** A criu the runner (a dump) or the restore script (a restore) killed at its bound. */
const TIMEOUTS = new Set(['COMMAND_TIMEOUT', 'WAIT_TIMEOUT']);

export function criuError(action: string, logFile: string, cause: unknown): LeapError {
  const log = existsSync(logFile) ? readFileSync(logFile, 'utf8') : '';
  const { excerpt, hint } = criuLogErrors(log);
  // A hung criu (stopped, or waiting on a task that never answers) logs no error of its own.
  const bound = isLeapError(cause) && TIMEOUTS.has(cause.code);
  return new LeapError(
    `CRIU_${action.toUpperCase()}_FAILED`,
    `criu ${action} ${bound ? 'outran its bound and was killed' : 'failed'} (log: ${logFile})${excerpt ? `:\n${excerpt}` : ''}`,
    {
      hint:
        hint ??
        (bound
          ? `the bound is sized from the session's memory (a restore's is restore.restore_timeout); read ${logFile} for where criu stopped`
          : `read ${logFile} for the full story`),
      cause,
      details: { logFile },
    },
  );
}

const LOGGED_ERROR = /Error \([^)]*\): (.+)/;
const FAILED_WITH_LOG = /^(.*?) \(log: ([^)]*)\):?$/;

/**
 * A message as one line, for a table's narrow column: a criuError's becomes what
 * failed, the first error criu logged (the cause; later ones follow from it) and
 * the log's path. Any other message keeps its first line.
 */
export function oneLine(message: string): string {
  const [head = '', ...rest] = message.split('\n');
  if (rest.length === 0) return head;
  const cause = rest.map((line) => LOGGED_ERROR.exec(line)?.[1]?.trim()).find(Boolean);
  const failed = FAILED_WITH_LOG.exec(head.trim());
  const what = failed ? (failed[1] ?? '') : head.replace(/:$/, '');
  return [cause ? `${what}: ${cause}` : what, ...(failed ? [`log: ${failed[2] ?? ''}`] : [])].join(
    '; ',
  );
}
