/**
 * Runs in a scratch state dir, journaled through the journal's own API as the
 * worker and the boot's restore journal them, then shipped as ship.ts ships them
 * (report.json, then the upload phase): what `runs --since` reads, without a leap.
 */
import { hostname } from 'node:os';

import { Journal } from '../../src/state/journal.js';
import { type Outcome, readOutcome, writeOutcome } from '../../src/state/outcome.js';
import { buildReport, writeReport } from '../../src/steps/report/report.js';
import { SESSION_ENDED_MARK } from '../../src/steps/report/run-results.js';

export const OLD_KERNEL = '6.1.0-55-cloud-amd64';
export const NEW_KERNEL = '6.1.0-56-cloud-amd64';

/** Another user's ssh session and a tmux server outside the carried tree: every run's plan lists them. */
export const ALICE_SESSION = {
  kind: 'ssh-session' as const,
  pid: 900,
  user: 'alice',
  tty: 'pts/3',
  cmdline: 'sshd: alice@pts/3',
  level: 'fail' as const,
};
export const TMUX_SERVER = {
  kind: 'session-process' as const,
  pid: 950,
  user: 'root',
  tty: 'pts/0',
  cmdline: 'tmux',
  level: 'warn' as const,
};

export interface RunSpec {
  ptys?: number[];
  outcome?: Outcome;
  /** From its freeze to its unlock. */
  downtimeMs?: number;
  /** How its logs went: to bucket `logs` under `fleet/` (the default), failed, off, or not yet. */
  upload?: 'done' | 'failed' | 'off' | 'pending';
  rehearsalNoGo?: string;
  error?: { phase: 'dump' | 'restore'; message: string };
  /** A session of --all-ssh that logged out before its dump. */
  ended?: boolean;
}

export function journalRun(stateDir: string, runId: string, spec: RunSpec): Journal {
  const journal = Journal.create(stateDir, 'upgrade', runId);
  journal.start('plan');
  journal.finish('plan', {
    rootPid: 400,
    pids: [400],
    verdict: 'go',
    connections: [],
    ptys: spec.ptys ?? [],
    leftBehind: [ALICE_SESSION, TMUX_SERVER],
  });
  journal.start('rehearse');
  journal.finish('rehearse', {
    verdict: spec.rehearsalNoGo ? 'no-go' : 'go',
    reasons: spec.rehearsalNoGo ? [spec.rehearsalNoGo] : [],
  });
  if (spec.ended) journal.mark(SESSION_ENDED_MARK);
  journal.start('load');
  journal.finish('load', {
    from: OLD_KERNEL,
    to: NEW_KERNEL,
    vmlinuz: `/boot/vmlinuz-${NEW_KERNEL}`,
    initrd: `/boot/initrd.img-${NEW_KERNEL}`,
    cmdline: 'root=/dev/vda',
  });
  if (spec.downtimeMs !== undefined) {
    const freeze = new Date('2026-11-30T12:00:00Z');
    journal.mark('dump.freeze', freeze);
    journal.mark('unlocked', new Date(freeze.getTime() + spec.downtimeMs));
  }
  if (spec.error) {
    journal.start(spec.error.phase);
    journal.fail(spec.error.phase, { code: 'X', message: spec.error.message });
  }
  if (spec.outcome) writeOutcome(journal.paths.dir, spec.outcome);
  if (spec.outcome && spec.outcome !== 'dumped') shipRun(journal, spec.upload ?? 'done');
  return journal;
}

/** report.json, then the upload phase, as ship.ts does once the run has its outcome. */
export function shipRun(journal: Journal, upload: NonNullable<RunSpec['upload']>): void {
  writeReport(journal.paths.dir, buildReport(journal.snapshot, readOutcome(journal.paths.dir)));
  if (upload === 'pending') return;
  journal.start('upload');
  if (upload === 'failed') journal.fail('upload', { code: 'UPLOAD_FAILED', message: 'no store' });
  else
    journal.finish(
      'upload',
      upload === 'off'
        ? { keys: [], skipped: 'uploads are off' }
        : { bucket: 'logs', prefix: `fleet/${hostname()}/${journal.runId}`, keys: [] },
    );
}
