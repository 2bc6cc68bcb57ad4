/**
 * The take of the pending runs at boot: templates/take-pending.sh.hbs is the one
 * implementation of it. restore-boot.sh runs it before its fast restores, so
 * Node's restore at boot finds the runs taken and only reads what the take left
 * (bootRuns in src/state/pending.ts). Should they still be pending when Node
 * starts (the take failed in restore-boot.sh, or `restore --boot` was started by
 * hand), Node renders the same script and runs it first.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { ExitCode, LeapError } from '../../errors.js';
import { renderTakeScript } from '../../render/artefacts.js';
import { writeFileAtomic } from '../../state/atomic.js';
import { pendingPath, restoringPath, takenByPath } from '../../state/pending.js';
import type { HostPaths } from '../../tools/host-paths.js';
import { printable } from '../../tools/printable.js';
import type { Runner } from '../../tools/runner.js';

export type TakeHost = Pick<HostPaths, 'procBootId'>;

/**
 * Renders the script, one per state dir beside the lists it takes (the same text
 * for a state dir and host each time), and returns its path.
 */
export function writeTakeScript(stateDir: string, host: TakeHost): string {
  const context = {
    stateDir,
    pendingFile: pendingPath(stateDir),
    restoringFile: restoringPath(stateDir),
    restoringBootFile: takenByPath(stateDir),
    procBootId: host.procBootId,
  };
  const path = join(stateDir, 'take-pending.sh');
  writeFileAtomic(path, renderTakeScript(context));
  return path;
}

/** Takes the runs still pending for this boot, if any: nothing is restored before. */
export async function takeStillPending(
  runner: Runner,
  stateDir: string,
  host: TakeHost,
): Promise<void> {
  if (!existsSync(pendingPath(stateDir))) return;
  const script = writeTakeScript(stateDir, host);
  try {
    await runner.run({ file: '/bin/sh', args: [script], timeoutMs: 60_000 });
  } catch (error) {
    throw new LeapError(
      'TAKE_FAILED',
      `the pending runs could not be taken for this boot, so none is restored: ${error instanceof Error ? printable(error.message) : String(error)}`,
      {
        hint: `the next boot takes the runs still pending; make room on ${stateDir}'s filesystem first, or restore one by hand now with \`kernel-leap restore --run ID\` (the IDs are in ${pendingPath(stateDir)})`,
        exit: ExitCode.restoreFailed,
      },
    );
  }
}
