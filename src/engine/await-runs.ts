/**
 * Waiting for the runs started since an instant to settle: after a leap, its
 * runs end on the new kernel, in the boot's restore unit, and ship their logs
 * after that. A fleet tool reconnecting after the kexec waits here instead of
 * reading the state dir itself. Bounded on the monotonic clock: a clock stepped
 * by NTP early in the boot neither ends the wait at once nor stretches it.
 */
import type { Config } from '../config/schema.js';
import { type RunResult, runsSince } from '../steps/report/run-results.js';
import type { Progress } from './progress.js';

export interface AwaitRunsOptions {
  stateDir: string;
  s3: Config['s3'];
  /** A run id's stamp (state/journal.ts's runStamp): runs whose id sorts at or after it. */
  since: string;
  /** 0: look once, wait for nothing. */
  timeoutMs: number;
  pollMs?: number;
  /** How often a wait with nothing new says it is still waiting. */
  heartbeatMs?: number;
}

export interface AwaitedRuns {
  runs: RunResult[];
  /** Every run is settled. */
  done: boolean;
  waitedMs: number;
}

export async function awaitRuns(out: Progress, options: AwaitRunsOptions): Promise<AwaitedRuns> {
  const { pollMs = 500, heartbeatMs = 30_000 } = options;
  const started = performance.now();
  const elapsed = () => performance.now() - started;
  const look = () => runsSince(options.stateDir, options.since, options.s3);
  let runs = look();
  let told = '';
  let toldAt = -Infinity;
  while (!allSettled(runs) && elapsed() < options.timeoutMs) {
    const state = underWay(runs);
    if (state !== told || elapsed() - toldAt >= heartbeatMs) {
      const left = Math.ceil((options.timeoutMs - elapsed()) / 1000);
      out.progress({ phase: 'wait', state: 'info', message: `${state}; up to ${left} s more` });
      [told, toldAt] = [state, elapsed()];
    }
    const remaining = Math.max(options.timeoutMs - elapsed(), 0);
    await new Promise((resolve) => setTimeout(resolve, Math.min(pollMs, remaining)));
    runs = look();
  }
  const done = allSettled(runs);
  if (told !== '')
    out.progress({
      phase: 'wait',
      state: done ? 'done' : 'failed',
      durationMs: elapsed(),
      message: done ? 'every run is settled' : `still ${underWay(runs)}`,
    });
  return { runs, done, waitedMs: Math.round(elapsed()) };
}

function allSettled(runs: readonly RunResult[]): boolean {
  return runs.every((r) => r.settled);
}

/** The runs not settled, each with where it is: `run R (dumped)`, `run R (restored, shipping its logs)`. */
function underWay(runs: readonly RunResult[]): string {
  const waiting = runs
    .filter((r) => !r.settled)
    .map((r) => `run ${r.runId} (${r.final ? `${r.outcome}, shipping its logs` : r.outcome})`);
  return `waiting for ${waiting.join(', ')}`;
}
