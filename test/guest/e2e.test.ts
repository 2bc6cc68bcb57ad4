/**
 * End to end (needs root and QEMU; kexecs its own guest twice): a live ssh session
 * with a ticker and an echo connection types `kernel-leap upgrade`; it comes back
 * on the new kernel with the same byte stream, the command returns 0 with a report
 * whose downtime matches the gap the host saw, what the host types reaches the
 * restored shell, and the logs are in S3. The second
 * leap replaces the session's own binaries first (--pre).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leapWithLiveSession, type LeapResult } from '../helpers/demo-run.js';
import { prepareGuest } from '../helpers/leap.js';
import { LocalS3 } from '../helpers/s3rver.js';
import { bootGuest, type Vm } from '../helpers/vm-boot.js';

describe('one command carries a live ssh session across a kernel upgrade', () => {
  let guest: Vm;
  let s3: LocalS3;

  beforeAll(async () => {
    s3 = await LocalS3.start();
    guest = await bootGuest({ log: console.log });
    await prepareGuest(guest, s3);
  });
  afterAll(async () => {
    await guest?.stop();
    await s3?.stop();
  });

  function expectCarried(result: LeapResult, from: string, to: string): void {
    console.log(`[e2e] ${from} -> ${to}: exit ${result.upgradeExit}, host gap ${result.longestGapMs} ms, report downtime ${result.reportDowntimeMs} ms, ${result.pingsSent} pings, echo intact ${result.echoIntact}`);
    expect(result.upgradeExit, result.transcript).toBe(0);
    expect(result.kernelBefore).toBe(from);
    expect(result.kernelAfter).toBe(to);
    expect(result.echoIntact, result.transcript).toBe(true);
    expect(result.echoAfterRestore, result.transcript).toBe(true);
    expect(result.echoConnections).toBe(1);
    expect(result.typedAfterRestore, result.transcript).toBe(true);
    expect(result.transcript).toMatch(/run \S+ on \S+: restored/);
    expect(Math.abs((result.reportDowntimeMs ?? 0) - result.longestGapMs)).toBeLessThan(1000);
    for (const file of ['journal.json', 'report.json', 'logs/dump.log', 'logs/restore.log']) expect(result.s3Keys.some((k) => k.endsWith(`/${file}`)), file).toBe(true);
  }

  it('upgrade returns 0 in the session, on the new kernel, with its echo stream intact', async () => {
    const { oldKernel, newKernel } = guest.connection;
    const result = await leapWithLiveSession(guest, s3, `kernel-leap upgrade --yes --kernel ${newKernel}`);
    expectCarried(result, oldKernel, newKernel);
  });

  it('also when --pre replaces the binaries the session runs', async () => {
    const { oldKernel, newKernel } = guest.connection;
    await guest.run('apt-get update -qq', { timeoutMs: 300_000 });
    const result = await leapWithLiveSession(guest, s3, `kernel-leap upgrade --yes --kernel ${oldKernel} --pre 'apt-get install --reinstall -y openssh-server bash'`);
    expectCarried(result, newKernel, oldKernel);
    const journal = JSON.parse(await guest.run('cat /var/lib/kernel-leap/latest/journal.json'));
    expect(journal.phases.pre.status).toBe('done');
  });
});
