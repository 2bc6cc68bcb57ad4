/**
 * Starting the worker outside the session. The foreground then hands the wait to
 * the launcher shell and exits: Node holds io_uring fds that CRIU 3.17 cannot
 * dump, and a small shell is all the session needs to keep while frozen.
 */
import { realpathSync, writeFileSync } from 'node:fs';
import type { Config } from '../config/schema.js';
import { liveProc } from '../tools/procfs.js';
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
    detached: true,
    viaSystemBus: !seesSystemdAsInit(),
  });
  return unit;
}

/** Inside a restored session's pid namespace, pid 1 is criu, and systemd is out of sight. */
function seesSystemdAsInit(): boolean {
  return liveProc.readText('/proc/1/comm')?.trim() === 'systemd';
}

/** Tells the launcher shell which run dir to wait on. */
export function handOff(handoffFile: string, journal: Journal): void {
  writeFileSync(handoffFile, journal.paths.dir);
}
