/**
 * Dump: fix exec bits of deleted executables, run criu dump, and on failure make
 * sure the session runs on, unfrozen and unlocked. The step journals only what
 * must be kept the moment it happens: the freeze and the end of criu's dump (the
 * session's downtime starts at the freeze), and each change it makes to the
 * session. Its output, the dump's duration and size, the engine journals.
 */
import { chmodSync, existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { isLeapError } from '../../errors.js';
import type { StepJournal } from '../../state/journal.js';
import type { Endpoint } from '../../state/manifest.js';
import { releaseReserve } from '../../state/reserve.js';
import { writeStoppedAtDump } from '../../state/stopped-at-dump.js';
import { runCriu } from '../../tools/criu.js';
import { clearNonBlocking, O_NONBLOCK, type ProcessFd } from '../../tools/fd-flags.js';
import { dropLockRules } from '../../tools/iptables.js';
import { listFds, readStatus, residentBytes } from '../../tools/proc-tasks.js';
import { liveProc, type ProcSource } from '../../tools/procfs.js';
import type { Runner } from '../../tools/runner.js';
import type { ExecBitFix } from '../plan/classify.js';

export interface DumpInput {
  runner: Runner;
  journal: StepJournal;
  /** Full `criu dump ...` argv after the binary name, from criuDumpArgs(). */
  criuArgs: string[];
  /** A restored session's root: criu runs inside its pid and mount namespaces. */
  insideNamespacesOf: number | undefined;
  logFile: string;
  imagesDir: string;
  pids: readonly number[];
  execBitFixes: readonly ExecBitFix[];
  connections: ReadonlyArray<{ local: Endpoint; peer: Endpoint }>;
  /** Names the journal mark; rehearsals do not count as the freeze. */
  markPrefix: 'rehearsal' | 'dump';
}

export interface DumpOutput {
  durationMs: number;
  imagesBytes: number;
  /** The tree's processes stopped by job control as the dump began, by their pid in the tree's own namespace. */
  stoppedAtDump: number[];
}

const MIB = 1024 * 1024;
/** What any dump may take under emulation, frozen tasks and rules included, before its memory. */
const DUMP_BASE_MS = 60_000;
/** A quarter second a MiB (4 MiB/s): a fifth of the rate TCG was measured to write images at. */
const DUMP_MS_PER_MIB = 250;

/**
 * How long criu may dump a tree holding `bytes` of memory before it is killed and
 * the session resumes: a hung criu must not hold a session frozen, behind its
 * DROP rules, for longer than its memory can explain. The settle of a killed
 * worker waits as long for criu, and its unit's stop timeout is sized from it.
 */
export function dumpBoundMs(bytes: number): number {
  return DUMP_BASE_MS + Math.ceil(bytes / MIB) * DUMP_MS_PER_MIB;
}

/** The bound for these live tasks, from their memory now. */
export function treeDumpBoundMs(pids: readonly number[]): number {
  return dumpBoundMs(residentBytes(liveProc, pids));
}

/**
 * dpkg may chmod a replaced binary to 0600 before unlinking it; the restore then
 * fails in PR_SET_MM_MAP. chmod through /proc/PID/exe works on an inode with no
 * names left, and keeps ghost and file entries in agreement (docs/criu-facts.md §12).
 */
export function fixExecBits(journal: StepJournal, fixes: readonly ExecBitFix[]): void {
  for (const fix of fixes) {
    const path = `/proc/${fix.pid}/exe`;
    const mode = statSync(path).mode;
    if (mode & 0o111) continue;
    chmodSync(path, (mode & 0o7777) | 0o100);
    journal.recordChange(
      'chmod-u+x',
      fix.exe,
      `pid ${fix.pid}: mode ${(mode & 0o7777).toString(8)} -> ${((mode & 0o7777) | 0o100).toString(8)}`,
    );
  }
}

export async function dumpTree(input: DumpInput): Promise<DumpOutput> {
  fixExecBits(input.journal, input.execBitFixes);
  const blockingPtys = blockingPtyFds(liveProc, input.pids);
  // As late as can be before criu seizes them: what the restore must not resume.
  const stoppedAtDump = stoppedProcesses(liveProc, input.pids).map(
    (pid) => readStatus(liveProc, pid)?.nsPids.at(-1) ?? pid,
  );
  if (input.markPrefix === 'dump') writeStoppedAtDump(input.journal.paths.dir, stoppedAtDump);
  input.journal.mark(`${input.markPrefix}.freeze`);
  const started = performance.now();
  try {
    await runCriu(input.runner, {
      args: input.criuArgs,
      logFile: input.logFile,
      timeoutMs: treeDumpBoundMs(input.pids),
      action: 'dump',
      insideNamespacesOf: input.insideNamespacesOf,
    });
  } catch (error) {
    // The disk may be full of images: what follows must be able to write.
    releaseReserve(input.journal.paths.dir);
    await keepSessionRunning(input);
    await reblockPtys(input, blockingPtys);
    throw error;
  }
  const durationMs = Math.round(performance.now() - started);
  input.journal.mark(`${input.markPrefix}.dumped`);
  return { durationMs, imagesBytes: dirSize(input.imagesDir), stoppedAtDump };
}

/**
 * The processes stopped by a signal (state T: a job suspended with Ctrl-Z), not
 * those a tracer stopped (t). criu restores them stopped, and so they stay.
 */
export function stoppedProcesses(proc: ProcSource, pids: readonly number[]): number[] {
  return pids.filter((pid) => readStatus(proc, pid)?.state === 'T');
}

/** After a failed dump: resume any stopped task and drop lock rules CRIU left behind. */
export async function keepSessionRunning(
  input: Pick<DumpInput, 'runner' | 'pids' | 'connections' | 'journal'>,
): Promise<void> {
  for (const pid of input.pids) {
    const state = readStatus(liveProc, pid)?.state;
    if (state === 'T' || state === 't') {
      process.kill(pid, 'SIGCONT');
      input.journal.recordChange('sigcont', `/proc/${pid}`, 'left stopped by a failed dump');
    }
  }
  // A rule left in force cuts the session off: a failure to drop it is kept in the
  // journal (and so the report) rather than hiding the dump's own error.
  try {
    const removed = await dropLockRules(input.runner, input.connections);
    if (removed > 0)
      input.journal.recordChange(
        'iptables-delete',
        'filter',
        `${removed} lock rules left by the failed dump`,
      );
  } catch (error) {
    if (!isLeapError(error)) throw error;
    input.journal.recordChange(
      'iptables-delete-failed',
      'filter',
      `${error.message}; drop the rules marked 0xc114 by hand: iptables-save | grep 0xc114`,
    );
  }
}

const PTY = /^\/dev\/(pts\/(\d+|ptmx)|ptmx)$/;

/** The tree's pty fds that are in blocking mode, as a shell's are. */
export function blockingPtyFds(proc: ProcSource, pids: readonly number[]): ProcessFd[] {
  return pids.flatMap((pid) =>
    listFds(proc, pid)
      .filter((f) => PTY.test(f.target) && f.flags !== undefined && (f.flags & O_NONBLOCK) === 0)
      .map((f) => ({ pid, fd: f.fd })),
  );
}

/**
 * criu reads a pty pair's queued data through the session's own open files, made
 * non-blocking for it, and makes them blocking again only if the dump fails before
 * that step or leaves the tree running (criu/tty.c, tty_dump_queued_data). A dump
 * that fails later (writing images, a post-dump script) resumes a session whose
 * shell then gets EAGAIN writing to its terminal.
 */
async function reblockPtys(
  input: Pick<DumpInput, 'runner' | 'journal'>,
  wereBlocking: readonly ProcessFd[],
): Promise<void> {
  const left = wereBlocking.filter(
    ({ pid, fd }) =>
      ((listFds(liveProc, pid).find((f) => f.fd === fd)?.flags ?? 0) & O_NONBLOCK) !== 0,
  );
  if (left.length === 0) return;
  const where = left.map(({ pid, fd }) => `/proc/${pid}/fd/${fd}`).join(' ');
  try {
    await clearNonBlocking(input.runner, left);
    input.journal.recordChange(
      'tty-blocking',
      where,
      'made blocking again: the failed dump left them non-blocking',
    );
  } catch (error) {
    if (!isLeapError(error)) throw error;
    input.journal.recordChange(
      'tty-blocking-failed',
      where,
      `${error.message}; the session's terminal may report "Resource temporarily unavailable" until it is reopened`,
    );
  }
}

function dirSize(dir: string): number {
  if (!existsSync(dir)) return 0;
  return readdirSync(dir).reduce((total, name) => total + statSync(join(dir, name)).size, 0);
}
