/**
 * The resume of the trees a restore left stopped: criu restores each tree stopped
 * (--leave-stopped), so that no carried process runs while root still prepares
 * the paths of the next tree (docs/trust.md). templates/resume-trees.sh.hbs is
 * the one implementation of it, for restore-boot.sh, the restore unit's
 * ExecStopPost= and Node alike: here Node renders it and runs it once its last
 * run is restored, then reads what it did from each run's `resumed`.
 */
import { join } from 'node:path';

import { ExitCode, LeapError } from '../../errors.js';
import { renderResumeScript } from '../../render/artefacts.js';
import { writeFileAtomic } from '../../state/atomic.js';
import {
  BOOT_SCRIPT,
  NODE_SCRIPT,
  readResumed,
  RESUMED,
  type Resumed,
} from '../../state/restore-record.js';
import { STOPPED_AT_DUMP } from '../../state/stopped-at-dump.js';
import type { HostPaths } from '../../tools/host-paths.js';
import { printable } from '../../tools/printable.js';
import { bootId } from '../../tools/procfs.js';
import type { Runner } from '../../tools/runner.js';

export type ResumeHost = Pick<HostPaths, 'proc' | 'procBootId'>;

/**
 * The script's path: one per state dir, not a boot artefact, so that the restore
 * unit's ExecStopPost= finds it after Node's cleanup and a restore by hand has it.
 */
export function resumeScriptPath(stateDir: string): string {
  return join(stateDir, 'resume-trees.sh');
}

/** Renders the script (the same text for a state dir and host each time). */
export function writeResumeScript(stateDir: string, host: ResumeHost): string {
  const path = resumeScriptPath(stateDir);
  writeFileAtomic(
    path,
    renderResumeScript({
      stateDir,
      proc: host.proc,
      procBootId: host.procBootId,
      // Node's rendering runs after the boot's on the same boot, when it runs at all.
      records: [NODE_SCRIPT.record, BOOT_SCRIPT.record],
      stoppedAtDump: STOPPED_AT_DUMP,
      resumed: RESUMED,
    }),
  );
  return path;
}

/**
 * Resumes the trees of these runs that this boot restored and did not resume yet
 * (restore-boot.sh may have resumed them all already); what each run's says, by run.
 */
export async function resumeTrees(
  runner: Runner,
  stateDir: string,
  host: ResumeHost,
  runIds: readonly string[],
): Promise<Map<string, Resumed>> {
  const script = writeResumeScript(stateDir, host);
  try {
    await runner.run({ file: '/bin/sh', args: [script, ...runIds], timeoutMs: 60_000 });
  } catch (error) {
    throw new LeapError(
      'RESUME_FAILED',
      `the restored trees could not all be resumed: ${error instanceof Error ? printable(error.message) : String(error)}`,
      {
        hint: `read ${script}; a tree left stopped is resumed by \`kill -CONT\` on each of its processes (\`systemd-cgls -u kernel-leap-session-RUN.scope\`), children first, but for those stopped at the dump (the run's ${STOPPED_AT_DUMP})`,
        exit: ExitCode.restoreFailed,
      },
    );
  }
  const boot = bootId(host.procBootId);
  const resumed = new Map<string, Resumed>();
  for (const runId of runIds) {
    const r = readResumed(join(stateDir, 'runs', runId), boot);
    if (r) resumed.set(runId, r);
  }
  return resumed;
}
