/** Polls with a deadline instead of sleeping a fixed time (STYLE.md). */
import { setTimeout as delay } from 'node:timers/promises';

export interface PollOptions {
  timeoutMs: number;
  what: string;
  intervalMs?: number;
  /** Extra context for the timeout message, computed only on timeout (e.g. a log tail). */
  detail?: () => string;
}

/** Calls `check` until it returns a value other than undefined; a throw from `check` aborts at once. */
export async function pollUntil<T>(
  check: () => Promise<T | undefined> | T | undefined,
  options: PollOptions,
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    const left = deadline - Date.now();
    if (left <= 0) {
      const detail = options.detail ? `\n${options.detail()}` : '';
      throw new Error(
        `timed out after ${Math.round(options.timeoutMs / 1000)} s waiting for ${options.what}${detail}`,
      );
    }
    await delay(Math.min(options.intervalMs ?? 500, left));
  }
}
