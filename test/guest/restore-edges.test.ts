/**
 * Restore edge cases (needs root and QEMU; kexecs its own guest three times):
 * a new login takes the dumped pty before the restore (remap), after a clean
 * `systemctl kexec` shutdown; the S3 server is down (restore succeeds,
 * upload-logs ships later); a corrupted image (clear
 * failure in the report and in S3, images kept, nothing loops at the next boot).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARTEFACTS_GONE, expectEventually, kexecAndWait, latestJournal, prepareGuest, waitForOutcome, withPostMortem } from '../helpers/leap.js';
import { LocalS3 } from '../helpers/s3rver.js';
import { bootGuest, type Vm } from '../helpers/vm-boot.js';
import type { VmSession } from '../helpers/vm-session.js';

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
const SQUATTER_UNIT = `[Unit]
Description=test: hold a pty before kernel-leap restores
DefaultDependencies=no
After=local-fs.target
Before=kernel-leap-restore.service
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/bin/pty-squat
[Install]
WantedBy=multi-user.target
`;

describe('restore edge cases in the guest', () => {
  let guest: Vm;
  let s3: LocalS3;
  const sessions: VmSession[] = [];

  beforeAll(async () => {
    s3 = await LocalS3.start();
    guest = await bootGuest({ log: console.log });
    await prepareGuest(guest, s3);
  });
  afterAll(async () => {
    await Promise.all(sessions.map((s) => s.close()));
    await guest?.stop();
    await s3?.stop();
  });

  it('after systemctl kexec: remaps a pty taken at boot, restores with S3 down, and ships the spool with upload-logs later', async () => {
    await guest.run(`cat > /usr/local/bin/pty-squat <<'EOF'\n${SQUATTER}EOF\nchmod 755 /usr/local/bin/pty-squat\ncat > /etc/systemd/system/pty-squatter.service <<'EOF'\n${SQUATTER_UNIT}EOF\nsystemctl enable --quiet pty-squatter.service`);
    await s3.stop();
    const NEW_KERNEL = guest.connection.newKernel;
    const session = guest.openSession(`echo "BEFORE $(tty)"; kernel-leap upgrade --yes --no-rehearse --set kexec.exec_with=systemctl --kernel ${NEW_KERNEL}; echo "UPGRADE-EXIT=$?"; ${TICKER}`);
    sessions.push(session);
    const dumpedTty = (await session.waitForLine(/^BEFORE /, 60_000)).text.split(' ')[1];
    const resumed = await withPostMortem(guest, () => session.waitForLine(new RegExp(`^tick \\d+ ${NEW_KERNEL} `), 420_000));
    expect(await guest.run('cat /run/squat')).toBe(dumpedTty);
    expect(resumed.text).not.toContain(dumpedTty);
    expect(session.output()).toContain('UPGRADE-EXIT=0');
    expect(session.output()).toMatch(/remapped: pts\/\d+ -> pts\/\d+/);

    await waitForOutcome(guest, /^restored$/, 60_000);
    const journal = await latestJournal(guest);
    expect(await guest.run(`grep -c '"argv":\\["systemctl","kexec"\\]' /var/lib/kernel-leap/runs/${journal.runId}/logs/commands.jsonl`)).toBe('1\n');
    await expectEventually('the run in the spool', async () => (await guest.run('ls /var/lib/kernel-leap/spool/ 2>/dev/null || true')).includes(journal.runId), 120_000);
    expect((await guest.run(ARTEFACTS_GONE)).trim()).toBe('0');

    await s3.resume();
    expect((await guest.exec('kernel-leap upload-logs')).exitCode).toBe(0);
    expect((await guest.run('ls /var/lib/kernel-leap/spool/ | wc -l')).trim()).toBe('0');
    const host = (await guest.run('hostname')).trim();
    expect(await s3.keys(`kl-test/${host}/${journal.runId}/`)).toContain(`kl-test/${host}/${journal.runId}/logs/restore.log`);
    await guest.run('systemctl disable --quiet pty-squatter.service');
  });

  it('a corrupted image fails clearly, keeps the images, reaches S3, and does not loop at the next boot', async () => {
    const { oldKernel: OLD_KERNEL, newKernel: NEW_KERNEL } = guest.connection;
    const session = guest.openSession(`kernel-leap upgrade --yes --no-rehearse --no-exec --kernel ${OLD_KERNEL}; echo "UPGRADE-EXIT=$?"; ${TICKER}`);
    sessions.push(session);
    await waitForOutcome(guest, /^dumped$/, 240_000);
    const { runId } = await latestJournal(guest);
    const images = `/var/lib/kernel-leap/runs/${runId}/images`;
    await guest.run(`head -c 64 /dev/urandom > ${images}/pstree.img`);
    await kexecAndWait(guest);
    expect((await guest.run('uname -r')).trim()).toBe(OLD_KERNEL);
    await waitForOutcome(guest, /^failed$/, 180_000);

    const journal = await latestJournal(guest);
    expect(journal.runId).toBe(runId);
    expect(journal.phases.restore?.status).toBe('failed');
    expect(await guest.run(`ls ${images}`)).toMatch(/inventory\.img/);
    expect((await guest.run(ARTEFACTS_GONE)).trim()).toBe('0');
    const report = await guest.run(`kernel-leap report --run ${runId}`);
    expect(report).toMatch(/: failed/);
    expect(report).toMatch(/restore\s+failed: criu restore failed/);
    const host = (await guest.run('hostname')).trim();
    await expectEventually('the failed run\'s report in S3', async () => (await s3.keys(`kl-test/${host}/${runId}/`)).includes(`kl-test/${host}/${runId}/report.json`), 120_000);
    expect(JSON.parse(await s3.text(`kl-test/${host}/${runId}/report.json`)).outcome).toBe('failed');

    // Next boot: no pending mark, no unit, so no second attempt.
    const marksBefore = journal.marks.restoreUnitStart;
    await guest.run(`kexec -l -i /boot/vmlinuz-${NEW_KERNEL} --initrd=/boot/initrd.img-${NEW_KERNEL} --reuse-cmdline`);
    await kexecAndWait(guest);
    expect((await guest.run('uname -r')).trim()).toBe(NEW_KERNEL);
    expect((await guest.exec('systemctl status kernel-leap-restore.service')).exitCode).not.toBe(0);
    expect((await latestJournal(guest)).marks.restoreUnitStart).toBe(marksBefore);
    expect(await guest.run(`ls ${images}`)).toMatch(/inventory\.img/);
  });
});

