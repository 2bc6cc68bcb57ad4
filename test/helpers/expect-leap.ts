/** What a leap of a live session must show, for the guest tests that run one (e2e, trixie). */
import { expect } from 'vitest';

import type { LeapResult } from './demo-run.js';

export function expectCarried(result: LeapResult, from: string, to: string, tag = 'e2e'): void {
  console.log(
    `[${tag}] ${from} -> ${to}: exit ${result.upgradeExit}, host gap ${result.longestGapMs} ms, report downtime ${result.reportDowntimeMs} ms, ${result.pingsSent} pings, echo intact ${result.echoIntact}`,
  );
  expect(result.upgradeExit, result.transcript).toBe(0);
  expect(result.kernelBefore).toBe(from);
  expect(result.kernelAfter).toBe(to);
  expect(result.echoIntact, result.transcript).toBe(true);
  expect(result.echoAfterRestore, result.transcript).toBe(true);
  expect(result.echoConnections).toBe(1);
  expect(result.typedAfterRestore, result.transcript).toBe(true);
  expect(result.transcript).toMatch(/run \S+ on \S+: restored/);
  expect(Math.abs((result.reportDowntimeMs ?? 0) - result.longestGapMs)).toBeLessThan(1000);
  for (const file of ['journal.json', 'report.json', 'logs/dump.log', 'logs/restore.log'])
    expect(
      result.s3Keys.some((k) => k.endsWith(`/${file}`)),
      file,
    ).toBe(true);
}
