/** Runs one phase: journals its start, end and outputs, and shows progress. */
import type { Output } from '../cli/output.js';
import { isLeapError } from '../errors.js';
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
