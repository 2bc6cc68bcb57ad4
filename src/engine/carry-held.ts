/**
 * The held files the boot clears, copied after a good dump (steps/checkpoint/copy-held.ts).
 * A dumped session lives in its images, so nothing here may fail the leap: a file
 * not copied is a warning in the journal and the progress, naming it, and its
 * tree's restore then fails on it with the images kept.
 */
import type { Journal } from '../state/journal.js';
import { copyHeldFiles } from '../steps/checkpoint/copy-held.js';
import type { Progress } from './progress.js';

export function carryHeldFiles(out: Progress, journal: Journal): void {
  try {
    const { files } = copyHeldFiles(journal.paths.dir);
    let [copied, bytes] = [0, 0];
    for (const file of files) {
      if (file.copy?.state === 'copied') {
        copied += 1;
        bytes += file.copy.bytes;
        journal.recordChange(
          'held-file-copied',
          file.path,
          `${file.copy.bytes} bytes to held-files/${file.index}, put back before the restore`,
        );
      } else if (file.copy?.state === 'not-copied') warn(out, journal, file.path, file.copy.why);
    }
    if (copied > 0)
      out.progress({
        phase: 'dump',
        state: 'info',
        message: `copied ${copied} held ${copied === 1 ? 'file' : 'files'} the boot clears (${bytes} bytes) into run ${journal.runId}: put back before the restore`,
      });
  } catch (error) {
    warn(out, journal, 'held-files', error instanceof Error ? error.message : String(error));
  }
}

function warn(out: Progress, journal: Journal, path: string, why: string): void {
  const consequence = "its tree's restore fails unless the file is there again";
  out.progress({
    phase: 'dump',
    state: 'info',
    message: `warning: held file ${path} not copied: ${why}; ${consequence}`,
  });
  journal.recordChange('held-file-not-copied', path, `${why}; ${consequence}`);
}
