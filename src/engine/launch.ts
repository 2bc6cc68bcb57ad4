/**
 * Starting the worker outside the session. The foreground then hands the wait to
 * the launcher shell and exits: Node holds io_uring fds that CRIU 3.17 cannot
 * dump, and a small shell is all the session needs to keep while frozen.
 */
import { realpathSync, writeFileSync } from 'node:fs';
import type { Config } from '../config/schema.js';
import type { Runner } from '../tools/runner.js';
import { startTransientService } from '../tools/systemd.js';
import type { Journal } from './journal.js';

export interface ConfigSource {
  file: string | undefined;
  /** `section.key=value` from the environment and --set: a transient unit inherits neither. */
  overrides: readonly string[];
}

export async function launchWorker(runner: Runner, config: Config, source: ConfigSource, journal: Journal, workerArgs: readonly string[]): Promise<string> {
  const unit = `kernel-leap-worker-${journal.runId}`;
  const node = config.paths.node ?? process.execPath;
  const bundle = config.paths.bundle ?? realpathSync(process.argv[1] ?? '');
  await startTransientService(runner, {
    unit,
    description: `kernel-leap worker for run ${journal.runId}`,
    command: [node, bundle, 'worker', '--run', journal.runId, ...(source.file ? ['--config', source.file] : []), ...source.overrides.flatMap((o) => ['--set', o]), ...workerArgs],
    // The worker must survive the session it dumps and never be killed with it.
    properties: ['KillMode=process', 'SendSIGHUP=no'],
  });
  return unit;
}

/** Tells the launcher shell which run dir to wait on. */
export function handOff(handoffFile: string, journal: Journal): void {
  writeFileSync(handoffFile, journal.paths.dir);
}
