/** Runs one phase of a run: journals its start, its end with its output, and shows progress. */
import { isLeapError } from '../errors.js';
import type { Journal } from '../state/journal.js';
import type { PhaseOutput } from '../state/phase-outputs.js';
import type { PhaseName } from '../state/phase-table.js';
import type { Runner } from '../tools/runner.js';
import type { Progress } from './progress.js';

/**
 * `work` gets the runner for this run: the commands the phase runs go to that
 * run's commands.jsonl (`--all-ssh` works on several runs). `output` is what the
 * phase journals of the step's result.
 */
export async function stepInRun<P extends PhaseName, T>(
  ctx: { runner: Runner; out: Progress },
  journal: Journal,
  name: P,
  work: (runner: Runner) => Promise<T>,
  output: (result: T) => PhaseOutput<P>,
): Promise<T> {
  journal.start(name);
  ctx.out.progress({ phase: name, state: 'start' });
  const started = performance.now();
  try {
    const result = await work(ctx.runner.loggingTo(journal.paths.commandLog));
    journal.finish(name, output(result));
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
