/**
 * The processes of a tree that were stopped when it was dumped (job control: a
 * job suspended with Ctrl-Z, state T), by their pid in the tree's own pid
 * namespace, which the restore gives them again. criu restores every tree
 * stopped; the resume (templates/resume-trees.sh.hbs) reads this file and never
 * resumes them. One pid a line, so that the shell reads it with grep -x.
 */
import { join } from 'node:path';

import { writeFileAtomic } from './atomic.js';

/** The file's name in the run dir. */
export const STOPPED_AT_DUMP = 'stopped-at-dump';

export function writeStoppedAtDump(runDir: string, pids: readonly number[]): void {
  writeFileAtomic(join(runDir, STOPPED_AT_DUMP), pids.map((pid) => `${pid}\n`).join(''));
}
