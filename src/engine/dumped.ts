/**
 * Whether a run's session lives in its images now: criu exited 0 from the dump,
 * or, where no one saw it exit, its log says it finished and the tree is gone. A
 * dump criu finished killed the tree, so its images are the session's only copy,
 * whatever failed after it (a journal write on a full disk, the pending mark,
 * sync, the jump).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import type { Journal } from '../state/journal.js';
import { isAlive } from '../tools/proc-tasks.js';
import { liveProc } from '../tools/procfs.js';

export function dumpedToImages(journal: Journal): boolean {
  return criuReturnedDump(journal) || (criuFinishedDump(journal) && treeGone(journal));
}

/**
 * criu exited 0 from the dump: the worker marks it at once, in memory before on
 * disk, so the mark holds even when the disk refused the write.
 */
export function criuReturnedDump(journal: Journal): boolean {
  return journal.snapshot.marks['dump.dumped'] !== undefined;
}

/**
 * criu ran on without the worker (KillMode=process), or the worker failed after it
 * returned. Its log says "finished successfully" after a failed post-dump script
 * too, but then it resumes the tree: hence treeGone.
 */
function criuFinishedDump(journal: Journal): boolean {
  const log = join(journal.paths.logs, 'dump.log');
  return existsSync(log) && readFileSync(log, 'utf8').includes('Dumping finished successfully');
}

/** The dump phase says what criu did, whatever ended the worker's own record of it. */
export function closeFinishedDump(journal: Journal, settled: string): void {
  const status = journal.phase('dump').status;
  if (status === 'failed') journal.start('dump');
  if (status === 'running' || status === 'failed') journal.finish('dump', { settled });
  if (!criuReturnedDump(journal)) journal.mark('dump.dumped');
}

/** None of the planned tree runs: criu killed it at the end of its dump. */
function treeGone(journal: Journal): boolean {
  const pids = journal.output('plan')?.pids ?? [];
  return pids.length > 0 && !pids.some((pid) => isAlive(liveProc, pid));
}
