/** Runs one phase: journals its start, end and outputs, and shows progress. */
import type { Output } from '../cli/output.js';
import { isLeapError } from '../errors.js';
import type { Runner } from '../tools/runner.js';
import type { Journal } from './journal.js';
import type { PhaseName } from './phases.js';

export interface StepContext {
  journal: Journal;
  out: Output;
}

export async function step<T>(ctx: StepContext, name: PhaseName, work: () => Promise<T>, outputs?: (result: T) => Record<string, unknown>): Promise<T> {
  ctx.journal.start(name);
  ctx.out.progress({ phase: name, state: 'start' });
  const started = performance.now();
  try {
    const result = await work();
    ctx.journal.finish(name, outputs?.(result));
    ctx.out.progress({ phase: name, state: 'done', durationMs: performance.now() - started });
    return result;
  } catch (error) {
    const summary = isLeapError(error) ? { code: error.code, message: error.message, ...(error.hint ? { hint: error.hint } : {}) } : { code: 'INTERNAL', message: String(error) };
    ctx.journal.fail(name, summary);
    ctx.out.progress({ phase: name, state: 'failed', durationMs: performance.now() - started, message: summary.message.split('\n')[0] });
    throw error;
  }
}

/** A phase of one run, with the commands it runs logged in that run's commands.jsonl (`--all-ssh` works on several). */
export function stepInRun<T>(ctx: { runner: Runner & { logFile?: string }; out: Output }, journal: Journal, name: PhaseName, work: () => Promise<T>, outputs?: (result: T) => Record<string, unknown>): Promise<T> {
  ctx.runner.logFile = journal.paths.commandLog;
  return step({ journal, out: ctx.out }, name, work, outputs);
}
