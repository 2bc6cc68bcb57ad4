/**
 * Starting the worker outside the session. The foreground then hands the wait to
 * the launcher shell and exits: Node holds io_uring fds that CRIU 3.17 cannot
 * dump, and a small shell is all the session needs to keep while frozen.
 */
import { writeFileSync } from 'node:fs';

import type { Config } from '../config/schema.js';
import { selfCommand } from '../config/self-command.js';
import { shQuote } from '../render/quote.js';
import type { Journal } from '../state/journal.js';
import { outcomePath, readOutcome } from '../state/outcome.js';
import { pendingPath } from '../state/pending.js';
import { type WorkerOptions, writeWorkerInput } from '../state/worker-input.js';
import { liveProc } from '../tools/procfs.js';
import type { Runner } from '../tools/runner.js';
import { startTransientService } from '../tools/systemd.js';

export interface ConfigSource {
  file: string | undefined;
  /** `section.key=value` from the environment and --set: a transient unit inherits neither. */
  overrides: readonly string[];
}

/**
 * `journal`: the caller's run, which names the worker (`options` names the others).
 * What the worker is to do, `--pre` and the config's overrides go in that run's
 * dir, not on the unit's command lines, which every user can read (state/worker-input.ts).
 */
export async function launchWorker(
  runner: Runner,
  config: Config,
  source: ConfigSource,
  journal: Journal,
  options: WorkerOptions,
): Promise<string> {
  const unit = workerUnitName(journal.runId);
  const { node, bundle } = selfCommand(config);
  const input = writeWorkerInput(journal.paths.dir, {
    config: {
      ...(source.file === undefined ? {} : { file: source.file }),
      overrides: [...source.overrides],
    },
    worker: options,
  });
  await startTransientService(runner, {
    unit,
    description: `kernel-leap worker for run ${journal.runId}`,
    command: [node, bundle, 'worker', '--input', input],
    stopPost: settleIfKilled(config, journal, [node, bundle, 'worker-stopped', '--input', input]),
    stopTimeoutS: settleStopTimeoutS(options.dumpBoundMs),
    // criu killed while its parasite runs inside a task leaves that task to die:
    // the OOM killer must pick anything but the worker and its criu.
    oomScoreAdjust: -1000,
    // The worker must survive the session it dumps and never be killed with it.
    detached: true,
    viaSystemBus: !seesSystemdAsInit(),
  });
  return unit;
}

/**
 * The killed worker's settle runs in ExecStopPost=, under the unit's stop timeout.
 * It waits for criu to finish the dump (as long as the dump's own bound, sized
 * from the trees' memory), up to 120 s for sync, then jumps (up to 60 s for
 * kexec -e, 120 s for systemctl kexec): systemd's default 90 s would kill it
 * halfway and leave a dumped session without an outcome.
 */
export function settleStopTimeoutS(dumpBoundMs: number): number {
  return Math.ceil(dumpBoundMs / 1000) + SYNC_AND_JUMP_S;
}

/** sync's bound, the slower jump's, and a minute for the settle's own work. */
const SYNC_AND_JUMP_S = 120 + 120 + 60;

export function workerUnitName(runId: string): string {
  return `kernel-leap-worker-${runId}`;
}

/**
 * The worker unit's ExecStopPost=: a worker killed by a signal leaves no outcome
 * for the launcher. The shell test keeps a Node start out of the usual stops,
 * above all the shutdown of `systemctl kexec`, where the pending mark exists.
 */
function settleIfKilled(
  config: Config,
  journal: Journal,
  settle: readonly string[],
): readonly ['/bin/sh', ...string[]] {
  const ended = [outcomePath(journal.paths.dir), pendingPath(config.paths.state_dir)].map(
    (file) => `test -e ${shQuote(file)}`,
  );
  return ['/bin/sh', '-c', `${ended.join(' || ')} || exec ${settle.map(shQuote).join(' ')}`];
}

/** Inside a restored session's pid namespace, pid 1 is criu, and systemd is out of sight. */
function seesSystemdAsInit(): boolean {
  return liveProc.readText('/proc/1/comm')?.trim() === 'systemd';
}

/** Tells the launcher shell which run dir to wait on. */
export function handOff(handoffFile: string, journal: Journal): void {
  writeFileSync(handoffFile, journal.paths.dir);
}

/** How often a waiter outside the session looks for the runs' outcomes. */
const OUTCOME_POLL_MS = 500;

/**
 * Waits in this process, outside every session, until each run has its outcome
 * (`auto`: no launcher shell waits for it). A leap that jumps ends this process
 * with the old kernel instead; a killed worker's runs get one from its stop.
 */
export async function waitForOutcomes(journals: readonly Journal[]): Promise<string[]> {
  for (;;) {
    const outcomes = journals.map((j) => readOutcome(j.paths.dir));
    if (outcomes.every((o) => o !== undefined)) return outcomes;
    await new Promise((resolve) => setTimeout(resolve, OUTCOME_POLL_MS));
  }
}
