/**
 * Starting the worker outside the session, and waiting for its outcome from
 * inside it. The foreground either hands the wait to the launcher shell (so no
 * Node heap is frozen with the session) or, run without it, waits itself.
 */
import { existsSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/schema.js';
import { OUTCOME_FILE } from '../phases/restore.js';
import type { Runner } from '../tools/runner.js';
import { startTransientService } from '../tools/systemd.js';
import type { Journal } from './journal.js';

export async function launchWorker(runner: Runner, config: Config, journal: Journal, workerArgs: readonly string[]): Promise<string> {
  const unit = `kernel-leap-worker-${journal.runId}`;
  const node = config.paths.node ?? process.execPath;
  const bundle = config.paths.bundle ?? realpathSync(process.argv[1] ?? '');
  await startTransientService(runner, {
    unit,
    description: `kernel-leap worker for run ${journal.runId}`,
    command: [node, bundle, 'worker', '--run', journal.runId, ...workerArgs],
    // The worker must survive the session it dumps and never be killed with it.
    properties: ['KillMode=process', 'SendSIGHUP=no'],
  });
  return unit;
}

/** Tells the launcher shell which run dir to wait on. */
export function handOff(handoffFile: string, journal: Journal): void {
  writeFileSync(handoffFile, journal.paths.dir);
}

/** Waits for the run's outcome file, echoing progress lines as the launcher does. */
export async function waitForOutcome(journal: Journal, print: (line: string) => void, pollMs = 200): Promise<string> {
  const progress = join(journal.paths.dir, 'progress.txt');
  const outcome = join(journal.paths.dir, OUTCOME_FILE);
  let shown = 0;
  const flush = () => {
    if (!existsSync(progress)) return;
    const lines = readFileSync(progress, 'utf8').split('\n').filter(Boolean);
    lines.slice(shown).forEach(print);
    shown = lines.length;
  };
  while (!existsSync(outcome)) {
    flush();
    await new Promise((r) => setTimeout(r, pollMs));
  }
  flush();
  return readFileSync(outcome, 'utf8').trim();
}
