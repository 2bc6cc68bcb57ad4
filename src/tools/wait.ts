/** Polls with a deadline instead of sleeping a fixed time. */
import { existsSync } from 'node:fs';

import { type ExitCodeValue, LeapError } from '../errors.js';

export interface WaitFailure {
  code?: string;
  exit?: ExitCodeValue;
}

export async function waitUntil(
  ready: () => boolean,
  timeoutMs: number,
  what: string,
  hint: string,
  failure: WaitFailure = {},
  pollMs = 50,
): Promise<void> {
  if (!(await becomes(ready, timeoutMs, pollMs))) throw timedOut(timeoutMs, what, hint, failure);
}

export function timedOut(
  timeoutMs: number,
  what: string,
  hint: string,
  failure: WaitFailure = {},
): LeapError {
  return new LeapError(
    failure.code ?? 'WAIT_TIMEOUT',
    `timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`,
    { hint, ...(failure.exit ? { exit: failure.exit } : {}) },
  );
}

/** Whether `ready` holds within the time: for a state that may lag the event that caused it. */
export async function becomes(
  ready: () => boolean,
  timeoutMs: number,
  pollMs = 50,
): Promise<boolean> {
  // Monotonic: an NTP step early in a boot must not end a wait at once, nor stretch it.
  const deadline = performance.now() + timeoutMs;
  while (!ready()) {
    if (performance.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, pollMs));
  }
  return true;
}

export function waitForExit(pid: number, timeoutMs: number): Promise<void> {
  return waitUntil(
    () => !existsSync(`/proc/${pid}`),
    timeoutMs,
    `process ${pid} to exit`,
    'the foreground kernel-leap did not hand off; is the launcher script installed?',
  );
}
