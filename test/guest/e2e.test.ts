/**
 * End to end (needs root and QEMU; kexecs its own guest twice): a live ssh session
 * with a ticker and an echo connection types `kernel-leap upgrade`; it comes back
 * on the new kernel with the same byte stream, the command returns 0 with a report
 * whose downtime matches the gap the host saw, what the host types reaches the
 * restored shell, and the logs are in S3. The second
 * leap replaces the session's own binaries first (--pre). On ifupdown, the bed's
 * stack, the lock rules were in before networking.service started and held until
 * criu's restore.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { leapWithLiveSession } from '../helpers/demo-run.js';
import { expectCarried } from '../helpers/expect-leap.js';
import { prepareGuest } from '../helpers/leap.js';
import { expectRulesHeldAcross } from '../helpers/network-stack.js';
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

  it('upgrade returns 0 in the session, on the new kernel, with its echo stream intact', async () => {
    const { oldKernel, newKernel } = guest.connection;
    const result = await leapWithLiveSession(
      guest,
      s3,
      `kernel-leap upgrade --yes --kernel ${newKernel}`,
    );
    expectCarried(result, oldKernel, newKernel);
    expect(result.transcript).toMatch(/ok\s+NETWORK\s+ifupdown brings up eth0: /);
    const order = await expectRulesHeldAcross(guest, 'ifupdown');
    console.log(
      `[e2e] ifupdown: lock rules in at ${order.rulesAt} s, networking.service started at ${order.stackAt} s after the kernel's start`,
    );
  });

  it('also when --pre replaces the binaries the session runs', async () => {
    const { oldKernel, newKernel } = guest.connection;
    await guest.run('apt-get update -qq', { timeoutMs: 300_000 });
    const result = await leapWithLiveSession(
      guest,
      s3,
      `kernel-leap upgrade --yes --kernel ${oldKernel} --pre 'apt-get install --reinstall -y openssh-server bash'`,
    );
    expectCarried(result, newKernel, oldKernel);
    const journal = JSON.parse(await guest.run('cat /var/lib/kernel-leap/latest/journal.json'));
    expect(journal.phases.pre.status).toBe('done');
  });
});
