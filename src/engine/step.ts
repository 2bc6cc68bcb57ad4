/** Runs one phase of a run: journals its start, end and outputs, and shows progress. */
import { isLeapError } from '../errors.js';
import type { Journal } from '../state/journal.js';
import type { PhaseName } from '../state/phase-table.js';
import type { Runner } from '../tools/runner.js';
import type { Progress } from './progress.js';

/**
 * The commands the phase runs go to that run's commands.jsonl (`--all-ssh` works
 * on several runs).  */
export async function stepInRun<T>(
  ctx: { runner: Runner; out: Progress },
  journal: Journal,
  name: PhaseName,
  work: () => Promise<T>,
  outputs?: (result: T) => Record<string, unknown>,
): Promise<T> {
  ctx.runner.logFile = journal.paths.commandLog;
  journal.start(name);
  ctx.out.progress({ phase: name, state: 'start' });
  const started = performance.now();
  try {
    const result = await work();
    journal.finish(name, outputs?.(result));
    ctx.out.progress({ phase: name, state: 'done', durationMs: performance.now() - started });
    return result;
  } catch (error) {
    const summary = isLeapError(error)
      ? { code: error.code, message: error.message, ...(error.hint ? { hint: error.hint } : {}) }
      : { code: 'INTERNAL', message: String(error) };
    journal.fail(name, summary);
    ctx.out.progress({
      phase: name,
      state: 'failed',
      durationMs: performance.now() - started,
      message: summary.message.split('\n')[0],
    });
    throw error;
  }
}
