import { afterEach, describe, expect, it, vi } from 'vitest';

import { becomes } from '../../../src/tools/wait.js';

describe('a wait with a deadline', () => {
  afterEach(() => vi.useRealTimers());

  it('keeps its bound when the wall clock steps an hour forward', async () => {
    // Only Date moves: an NTP step at boot changes the wall clock, not the monotonic one.
    vi.useFakeTimers({ toFake: ['Date'] });
    let polls = 0;
    const ready = () => {
      polls++;
      if (polls === 2) vi.setSystemTime(Date.now() + 3_600_000);
      return polls === 5;
    };
    expect(await becomes(ready, 5_000, 1)).toBe(true);
    expect(polls).toBe(5);
  });

  it('gives up once its time is spent', async () => {
    const started = performance.now();
    expect(await becomes(() => false, 120, 10)).toBe(false);
    expect(performance.now() - started).toBeGreaterThanOrEqual(120);
  });
});
