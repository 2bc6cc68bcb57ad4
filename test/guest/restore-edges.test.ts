/**
 * Restore edge cases (needs root and QEMU; kexecs its own guest three times):
 * a new login takes the dumped pty before the restore (remap), and another
 * interface the session's address (the restore waits for ifupdown to bring it
 * back), after a clean `systemctl kexec` shutdown; the S3 server is down (restore succeeds,
 * upload-logs ships later); a corrupted image (clear
 * failure in the report and in S3, images kept, no lock rule left, nothing loops
 * at the next boot).
 */
import { describe, expect, it } from 'vitest';

import {
  ARTEFACTS_GONE,
  expectEventually,
  kexecAndWait,
  latestJournal,
  waitForOutcome,
  withPostMortem,
} from '../helpers/leap.js';
import { usePreparedGuest } from '../helpers/prepared-guest.js';

const TICKER = 'while :; do echo "tick $(date +%s%N) $(uname -r) $(tty)"; sleep 0.5; done';
// Takes the lowest free pty early at boot, before the restore, as a new login would.
// It forks once the pty is held, so the oneshot unit is done exactly then.
const SQUATTER = `#!/usr/bin/python3
import os, pty, time
m, s = pty.openpty()
with open('/run/squat', 'w') as f:
    f.write(os.ttyname(s))
if os.fork() == 0:
    time.sleep(3600)
`;
/** A oneshot unit of the test's that runs `execStart` early at boot, before kernel-leap restores. */
const beforeRestoreUnit = (description: string, execStart: string) => `[Unit]
Description=test: ${description} before kernel-leap restores
DefaultDependencies=no
After=local-fs.target
Before=kernel-leap-restore.service
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=${execStart}
[Install]
WantedBy=multi-user.target
`;
const SQUATTER_UNIT = beforeRestoreUnit('hold a pty', '/usr/local/bin/pty-squat');
// Holds the session's address on an interface of its own early at boot, before the
// restore puts it back on eth0: as someone else could. The restore then waits for
// ifupdown to bring it to eth0.
const addressSquatterUnit = (ip: string) =>
  beforeRestoreUnit(
    "hold the session's address on another interface",
    `/bin/sh -c 'ip link add kltaken type dummy || ip link add kltaken type bridge; ip addr add ${ip}/32 dev kltaken'`,
  );

describe('restore edge cases in the guest', () => {
  const bed = usePreparedGuest();

  it('after systemctl kexec: remaps a pty taken at boot, waits for ifupdown for an address taken at boot, restores with S3 down, and ships the spool with upload-logs later', async () => {
    const address = (await bed.guest.run("ip -o -4 addr show dev eth0 | awk '{print $4}'")).trim();
    const ip = address.split('/')[0] as string;
    await bed.guest.run(
      `cat > /usr/local/bin/pty-squat <<'EOF'\n${SQUATTER}EOF\nchmod 755 /usr/local/bin/pty-squat\ncat > /etc/systemd/system/pty-squatter.service <<'EOF'\n${SQUATTER_UNIT}EOF\nsystemctl enable --quiet pty-squatter.service`,
    );
    await bed.guest.run(
      `cat > /etc/systemd/system/address-squatter.service <<'EOF'\n${addressSquatterUnit(ip)}EOF\nsystemctl enable --quiet address-squatter.service`,
    );
    await bed.s3.stop();
    const NEW_KERNEL = bed.guest.connection.newKernel;
    const session = bed.open(
      `echo "BEFORE $(tty)"; kernel-leap upgrade --yes --no-rehearse --set kexec.exec_with=systemctl --kernel ${NEW_KERNEL}; echo "UPGRADE-EXIT=$?"; ${TICKER}`,
    );
    const dumpedTty = (await session.waitForLine(/^BEFORE /, 60_000)).text.split(' ')[1];
    const resumed = await withPostMortem(bed.guest, () =>
      session.waitForLine(new RegExp(`^tick \\d+ ${NEW_KERNEL} `), 420_000),
    );
    expect(await bed.guest.run('cat /run/squat')).toBe(dumpedTty);
    expect(resumed.text).not.toContain(dumpedTty);
    expect(session.output()).toContain('UPGRADE-EXIT=0');
    expect(session.output()).toMatch(/remapped: pts\/\d+ -> pts\/\d+/);

    await waitForOutcome(bed.guest, /^restored$/, 60_000);
    const journal = await latestJournal(bed.guest);
    // The plan said it would put the lease back early, and fall back if it was taken; the boot found it taken.
    const risks = (journal.phases.plan?.outputs?.risks ?? []) as Array<{ message: string }>;
    expect(risks.map((r) => r.message)).toContain(
      `${address} on eth0: put back at boot once the lock rules are in, with its default route via 10.0.2.2, before ifupdown takes the same lease; found on another interface then, the restore waits for ifupdown instead`,
    );
    expect(
      await bed.guest.run(`cat /var/lib/kernel-leap/runs/${journal.runId}/fast-restore`),
    ).toMatch(/^early\.0=taken$/m);
    expect(await bed.guest.run(`kernel-leap report --run ${journal.runId}`)).toContain(
      `address: ${address} on eth0: on another interface at boot, not put back; the restore waited for the network stack`,
    );
    expect(await bed.guest.run('ip -o -4 addr show dev eth0')).toContain(` ${address} `);
    await bed.guest.run(
      'systemctl disable --quiet address-squatter.service && ip link del kltaken',
    );
    expect(
      await bed.guest.run(
        `grep -c '"argv":\\["systemctl","kexec"\\]' /var/lib/kernel-leap/runs/${journal.runId}/logs/commands.jsonl`,
      ),
    ).toBe('1\n');
    await expectEventually(
      'the run in the spool',
      async () =>
        (await bed.guest.run('ls /var/lib/kernel-leap/spool/ 2>/dev/null || true')).includes(
          journal.runId,
        ),
      120_000,
    );
    expect((await bed.guest.run(ARTEFACTS_GONE)).trim()).toBe('0');

    await bed.s3.resume();
    expect((await bed.guest.exec('kernel-leap upload-logs')).exitCode).toBe(0);
    expect((await bed.guest.run('ls /var/lib/kernel-leap/spool/ | wc -l')).trim()).toBe('0');
    const host = (await bed.guest.run('hostname')).trim();
    expect(await bed.s3.keys(`kl-test/${host}/${journal.runId}/`)).toContain(
      `kl-test/${host}/${journal.runId}/logs/restore.log`,
    );
    await bed.guest.run('systemctl disable --quiet pty-squatter.service');
  });

  it('a corrupted image fails clearly, keeps the images, reaches S3, and does not loop at the next boot', async () => {
    const { oldKernel: OLD_KERNEL, newKernel: NEW_KERNEL } = bed.guest.connection;
    bed.open(
      `kernel-leap upgrade --yes --no-rehearse --no-exec --kernel ${OLD_KERNEL}; echo "UPGRADE-EXIT=$?"; ${TICKER}`,
    );
    await waitForOutcome(bed.guest, /^dumped$/, 240_000);
    const { runId } = await latestJournal(bed.guest);
    const images = `/var/lib/kernel-leap/runs/${runId}/images`;
    await bed.guest.run(`head -c 64 /dev/urandom > ${images}/pstree.img`);
    await kexecAndWait(bed.guest);
    expect((await bed.guest.run('uname -r')).trim()).toBe(OLD_KERNEL);
    await waitForOutcome(bed.guest, /^failed$/, 180_000);

    const journal = await latestJournal(bed.guest);
    expect(journal.runId).toBe(runId);
    expect(journal.phases.restore?.status).toBe('failed');
    expect(await bed.guest.run(`ls ${images}`)).toMatch(/inventory\.img/);
    expect((await bed.guest.run(ARTEFACTS_GONE)).trim()).toBe('0');
    // The boot loaded the session's lock rules before the network; none outlives the failure.
    expect((await bed.guest.run('iptables-save | grep -c 0xc114 || true')).trim()).toBe('0');
    const report = await bed.guest.run(`kernel-leap report --run ${runId}`);
    expect(report).toMatch(/: failed/);
    expect(report).toMatch(/restore\s+failed: criu restore failed/);
    const host = (await bed.guest.run('hostname')).trim();
    await expectEventually(
      "the failed run's report in S3",
      async () =>
        (await bed.s3.keys(`kl-test/${host}/${runId}/`)).includes(
          `kl-test/${host}/${runId}/report.json`,
        ),
      120_000,
    );
    expect(JSON.parse(await bed.s3.text(`kl-test/${host}/${runId}/report.json`)).outcome).toBe(
      'failed',
    );

    // Next boot: no pending mark, no unit, so no second attempt.
    const marksBefore = journal.marks.restoreUnitStart;
    await bed.guest.run(
      `kexec -l -i /boot/vmlinuz-${NEW_KERNEL} --initrd=/boot/initrd.img-${NEW_KERNEL} --reuse-cmdline`,
    );
    await kexecAndWait(bed.guest);
    expect((await bed.guest.run('uname -r')).trim()).toBe(NEW_KERNEL);
    expect(
      (await bed.guest.exec('systemctl status kernel-leap-restore.service')).exitCode,
    ).not.toBe(0);
    expect((await latestJournal(bed.guest)).marks.restoreUnitStart).toBe(marksBefore);
    expect(await bed.guest.run(`ls ${images}`)).toMatch(/inventory\.img/);
  });
});
