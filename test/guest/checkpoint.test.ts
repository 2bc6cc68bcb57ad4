/**
 * The checkpoint side on one guest shared by all of its tests (needs root and
 * QEMU; nothing here kexecs, so the guest is booted once for the file). First
 * the bed itself: the guest runs the old kernel, CRIU works inside, and an ssh
 * login from the host gets a logind session held open by its .ref FIFO
 * (docs/criu-facts.md §9); every leap in the other files proves the bed's kexec.
 * Then plan, rehearse, a bad target refused before any freeze (a file that is not
 * a kernel, a truncated initrd), `kernel-leap auto` that waits (disabled, outside its window),
 * no-go on an unsupported resource (plan, rehearse, and auto inside its window, which
 * must neither start a run nor reboot), and a failing dump that must
 * leave the session running and the ruleset as it was, and ship its logs to S3,
 * and a worker killed by a signal, which must still give the session its answer.
 */
import { describe, expect, it } from 'vitest';

import {
  ARTEFACTS_GONE,
  expectEventually,
  latestJournal,
  latestRunId,
  startAutoService,
  withAutoEnabled,
} from '../helpers/leap.js';
import { usePreparedGuest } from '../helpers/prepared-guest.js';

const TICKER = 'while :; do echo "tick $(date +%s%N)"; sleep 0.2; done';
// A session's sign of life once it has said what the test reads.
const ALIVE = 'while :; do echo "alive $(date +%s)"; sleep 1; done';
// The mode of the session's terminal, shared by the shell's fds 0, 1 and 2.
const PTY_MODE = `python3 -c 'import fcntl, os; print("PTY-MODE=" + ("non-blocking" if fcntl.fcntl(1, fcntl.F_GETFL) & os.O_NONBLOCK else "blocking"))'`;

describe('checkpoint side in the guest', () => {
  const bed = usePreparedGuest();

  it('the bed: the guest runs the old kernel and criu check passes', async () => {
    expect((await bed.guest.run('uname -r')).trim()).toBe(bed.guest.connection.oldKernel);
    const criu = await bed.guest.exec('criu check');
    expect(criu.stdout + criu.stderr).toContain('Looks good.');
    expect(criu.exitCode).toBe(0);
  });

  it('the bed: an ssh login from the host gets a logind session held open by a FIFO', async () => {
    const session = bed.open('echo "SESSION id=$XDG_SESSION_ID tty=$(tty)"; exec sleep 600');
    const line = await session.waitForLine(/^SESSION id=\S+ tty=\/dev\/pts\/\d+$/, 60_000);
    const id = /id=(\S+)/.exec(line.text)?.[1];
    const ref = `/run/systemd/sessions/${id}.ref`;
    expect(await bed.guest.run(`test -p ${ref} && echo fifo`)).toBe('fifo\n');
    // The session's sshd holds the FIFO: the fd that CRIU must treat as external.
    expect(await bed.guest.run(`ps -o comm= -p "$(lsof -t ${ref} | paste -sd,)"`)).toMatch(
      /^sshd$/m,
    );
    expect(await bed.guest.run('loginctl list-sessions --no-legend')).toMatch(
      new RegExp(`^\\s*${id}\\s+0\\s+root\\b`, 'm'),
    );
    const props = await bed.guest.run(`loginctl show-session ${id} -p Service -p Remote -p State`);
    for (const prop of ['Service=sshd', 'Remote=yes', 'State=active'])
      expect(props).toContain(prop);
    await session.close();
  });

  it('plan names the session root, its TCP connection, its pty and its logind FIFO', async () => {
    const s = bed.open(
      'kernel-leap plan --json > /tmp/plan.json; echo "PLAN-EXIT=$?"; tty; sleep 600',
    );
    await s.waitForLine(/PLAN-EXIT=0/, 60_000);
    const tty = (await s.waitForLine(/^\/dev\/pts\/\d+$/, 10_000)).text;
    const [result] = (await bed.guest.run('cat /tmp/plan.json'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const session = result.sessions[0];
    expect(session.root.cmdline).toBe(`sshd: root@${tty.slice('/dev/'.length)}`);
    expect(session.verdict).toBe('go');
    expect(session.connections).toEqual([
      expect.objectContaining({
        local: { ip: '10.0.2.15', port: 22 },
        peer: expect.objectContaining({ ip: '10.0.2.2' }),
      }),
    ]);
    expect(session.ptys).toEqual([Number(tty.split('/').pop())]);
    expect(session.fifos).toEqual([
      expect.objectContaining({
        path: expect.stringMatching(/^\/run\/systemd\/sessions\/\d+\.ref$/),
        key: expect.stringMatching(/^file\[[0-9a-f]+:[0-9a-f]+\]$/),
      }),
    ]);
    expect(session.criuDump).toEqual(
      expect.arrayContaining([
        '--tcp-established',
        '--network-lock',
        'iptables',
        '--no-default-config',
        '--external',
        session.fifos[0].key,
      ]),
    );
  });

  it('rehearse says go, and the session never pauses longer than its freeze', async () => {
    const s = bed.open(
      `(${TICKER}) & sleep 2; kernel-leap rehearse; echo "REHEARSE-EXIT=$?"; sleep 3; kill %1; sleep 600`,
    );
    await s.waitForLine(/REHEARSE-EXIT=\d+/, 180_000);
    expect(s.output()).toContain('REHEARSE-EXIT=0');
    expect(s.output()).toMatch(/: rehearsed/);
    const journal = JSON.parse(await bed.guest.run('cat /var/lib/kernel-leap/latest/journal.json'));
    const rehearsal = journal.phases.rehearse.outputs;
    expect(rehearsal.verdict).toBe('go');
    const gap = s.longestGap(/^tick \d+/);
    console.log(
      `[rehearse] freeze ${rehearsal.freezeMs} ms, longest ticker gap seen from the host ${gap.ms} ms`,
    );
    // The ticker prints every 0.2 s; ssh and TCG scheduling add jitter on top of the freeze.
    expect(gap.ms).toBeLessThan(rehearsal.freezeMs + 1500);
    expect((await bed.guest.run('iptables-save | grep -c 0xc114 || true')).trim()).toBe('0');
  });

  it('a file that is not a kernel as --kernel, and a truncated initrd: upgrade refuses each before anything freezes, naming the file; the session never pauses, nothing is installed and no kernel is loaded', async () => {
    const { newKernel } = bed.guest.connection;
    await bed.guest.run(
      `head -c 4M /dev/urandom > /root/not-a-kernel && head -c 2M /boot/initrd.img-${newKernel} > /root/truncated-initrd`,
    );
    const s = bed.open(
      [
        `(${TICKER}) & sleep 2`,
        // A whole initrd beside it, so that the file itself is what is refused.
        `kernel-leap upgrade --yes --kernel /root/not-a-kernel --set kexec.initrd=/boot/initrd.img-${newKernel}; echo "NOT-KERNEL-EXIT=$?"`,
        `kernel-leap upgrade --yes --kernel ${newKernel} --set kexec.initrd=/root/truncated-initrd; echo "TRUNCATED-EXIT=$?"`,
        'sleep 2; kill %1; sleep 600',
      ].join('; '),
    );
    await s.waitForLine(/^TRUNCATED-EXIT=\d+$/, 180_000);
    expect(s.output()).toContain('NOT-KERNEL-EXIT=3');
    expect(s.output()).toMatch(/\/root\/not-a-kernel cannot be kexec'd/);
    expect(s.output()).toContain('TRUNCATED-EXIT=3');
    expect(s.output()).toMatch(/the initrd \/root\/truncated-initrd of .* would not unpack/);
    const gap = s.longestGap(/^tick \d+/);
    console.log(`[bad target] longest ticker gap seen from the host ${gap.ms} ms`);
    expect(gap.ms).toBeLessThan(1500);
    expect((await bed.guest.run(ARTEFACTS_GONE)).trim()).toBe('0');
    expect((await bed.guest.run('cat /sys/kernel/kexec_loaded')).trim()).toBe('0');
    expect((await bed.guest.run('iptables-save | grep -c 0xc114 || true')).trim()).toBe('0');
  });

  it('auto, started as its timer starts it, waits and does nothing while disabled (the default) and outside its window', async () => {
    const { oldKernel, newKernel } = bed.guest.connection;
    const boot = await bed.guest.bootId();
    const latest = await latestRunId(bed.guest);
    const due = `${newKernel} is installed, newer than the running ${oldKernel}`;
    const disabled = await startAutoService(bed.guest);
    expect(disabled.said).toContain(`auto: wait: ${due}; [auto] enabled is false`);
    expect(disabled.status).toBe(0);
    expect(await bed.guest.run('kernel-leap status')).toMatch(
      /^last auto decision \(.+\): wait: .+; \[auto\] enabled is false$/m,
    );
    // A window that opens two hours from now: closed now, whatever the day and the hour.
    const closed = await withAutoEnabled(bed.guest, 120, 180, async (window) => ({
      window,
      ...(await startAutoService(bed.guest)),
    }));
    expect(closed.said).toContain(
      `auto: wait: ${due}; outside the window ${closed.window}, it waits for the next one`,
    );
    expect(closed.status).toBe(0);
    expect(await bed.guest.run('kernel-leap status')).toMatch(
      /^last auto decision \(.+\): wait: .+; outside the window /m,
    );
    expect(await bed.guest.bootId()).toBe(boot);
    expect(await latestRunId(bed.guest)).toBe(latest);
    expect((await bed.guest.run('cat /sys/kernel/kexec_loaded')).trim()).toBe('0');
  });

  it('a tree with an unsupported resource makes plan and rehearse say no-go with the reason, and auto in its window a no-go that never reboots', async () => {
    const s = bed.open(
      `unshare --uts sleep 600 & sleep 1; kernel-leap plan; echo "PLAN-EXIT=$?"; kernel-leap rehearse; echo "REHEARSE-EXIT=$?"; ${ALIVE}`,
    );
    await s.waitForLine(/REHEARSE-EXIT=\d+/, 120_000);
    expect(s.output()).toContain('PLAN-EXIT=3');
    expect(s.output()).toContain('REHEARSE-EXIT=3');
    expect(s.output()).toMatch(
      /fail\s+NESTED_NAMESPACE\s+sleep \(\d+\) runs in its own uts namespace/,
    );
    expect(s.output()).toMatch(/verdict: no-go/);

    // auto, inside an open window, plans every ssh session: this one says no-go, so nothing starts.
    const boot = await bed.guest.bootId();
    const latest = await latestRunId(bed.guest);
    const auto = await withAutoEnabled(bed.guest, -5, 60, () => startAutoService(bed.guest));
    const why = /tree \d+: NESTED_NAMESPACE sleep \(\d+\) runs in its own uts namespace/;
    expect(auto.said).toMatch(
      new RegExp(`^auto: no-go: the plan says no-go: .*${why.source}`, 'm'),
    );
    expect(auto.status).toBe(3);
    expect(await bed.guest.run('kernel-leap status')).toMatch(
      new RegExp(`^last auto decision \\(.+\\): no-go: the plan says no-go: .*${why.source}`, 'm'),
    );
    expect(await bed.guest.bootId()).toBe(boot);
    await s.waitForLine(/^alive \d+$/, 30_000, s.lines.length);
    expect(await latestRunId(bed.guest)).toBe(latest);
    expect((await bed.guest.run('cat /sys/kernel/kexec_loaded')).trim()).toBe('0');
    expect((await bed.guest.run(ARTEFACTS_GONE)).trim()).toBe('0');
  });

  it('a dump that fails after the freeze leaves the session running and the ruleset as it was', async () => {
    // A post-dump action script that fails: criu has frozen the tree and taken the lock, then must resume and unlock.
    await bed.guest.run(
      `printf '#!/bin/sh\\n[ "$CRTOOLS_SCRIPT_ACTION" = post-dump ] && exit 1\\nexit 0\\n' > /root/fail-post-dump && chmod 700 /root/fail-post-dump`,
    );
    const before = await bed.guest.run("iptables-save | grep -v '^#'");
    const s = bed.open(
      `(${TICKER}) & sleep 2; KERNEL_LEAP_CRIU_EXTRA_DUMP_ARGS='--action-script /root/fail-post-dump' kernel-leap upgrade --yes --no-rehearse --no-exec; echo "UPGRADE-EXIT=$?"; ${PTY_MODE}; sleep 3; echo "AFTER"; sleep 2; kill %1; sleep 600`,
    );
    await s.waitForLine(/UPGRADE-EXIT=\d+/, 240_000);
    expect(s.output()).toContain('UPGRADE-EXIT=1');
    expect(s.output()).toMatch(/dump-failed/);
    // criu left the pty non-blocking (it read the queued tty data); the dump step made it blocking again.
    expect((await s.waitForLine(/^PTY-MODE=/, 30_000)).text).toBe('PTY-MODE=blocking');
    expect(await bed.guest.run('cat /var/lib/kernel-leap/latest/journal.json')).toContain(
      '"tty-blocking"',
    );
    const after = await s.waitForLine(/^AFTER$/, 30_000);
    expect(s.lines.some((l) => l.at > after.at - 2500 && /^tick/.test(l.text))).toBe(true);
    expect(await bed.guest.run("iptables-save | grep -v '^#'")).toBe(before);
    expect((await bed.guest.run('cat /sys/kernel/kexec_loaded')).trim()).toBe('0');
    expect(
      (await bed.guest.run('ls /etc/systemd/system/ | grep -c kernel-leap || true')).trim(),
    ).toBe('0');
    expect(await bed.guest.run('ls /var/lib/kernel-leap/pending 2>&1 || true')).toMatch(
      /No such file/,
    );
    // A run that ends before the kexec ships its logs too, once the session is back.
    const journal = await latestJournal(bed.guest);
    const host = (await bed.guest.run('hostname')).trim();
    await expectEventually(
      'the failed run in S3',
      async () =>
        (await bed.s3.keys(`kl-test/${host}/${journal.runId}/`)).some((k) =>
          k.endsWith('/logs/dump.log'),
        ),
      120_000,
    );
    expect(
      JSON.parse(await bed.s3.text(`kl-test/${host}/${journal.runId}/report.json`)),
    ).toMatchObject({ outcome: 'dump-failed' });
  });

  it('a worker killed by a signal still gives the waiting session its answer, and leaves it running', async () => {
    const s = bed.open(
      `(${TICKER}) & sleep 2; kernel-leap upgrade --yes --no-rehearse --no-exec --pre 'sleep 40'; echo "UPGRADE-EXIT=$?"; sleep 3; echo "AFTER"; sleep 2; kill %1; sleep 600`,
    );
    await expectEventually(
      'the worker to run --pre',
      async () => (await latestJournal(bed.guest)).phases.pre?.status === 'running',
      120_000,
    );
    const { runId } = await latestJournal(bed.guest);
    // As the OOM killer would: the main process only, with no chance to write an outcome.
    await bed.guest.run(
      `systemctl kill --kill-whom=main --signal=KILL kernel-leap-worker-${runId}.service`,
    );
    await s.waitForLine(/UPGRADE-EXIT=\d+/, 90_000);
    expect(s.output()).toContain('UPGRADE-EXIT=1');
    expect(s.output()).toMatch(/: aborted/);
    expect(s.output()).toMatch(/the worker ended without an outcome \(killed by signal KILL\)/);
    const after = await s.waitForLine(/^AFTER$/, 30_000);
    expect(s.lines.some((l) => l.at > after.at - 2500 && /^tick/.test(l.text))).toBe(true);
    const journal = await latestJournal(bed.guest);
    expect(journal.phases.pre?.status).toBe('failed');
    expect((await bed.guest.run('cat /sys/kernel/kexec_loaded')).trim()).toBe('0');
    expect(await bed.guest.run('ls /var/lib/kernel-leap/pending 2>&1 || true')).toMatch(
      /No such file/,
    );
    const host = (await bed.guest.run('hostname')).trim();
    await expectEventually(
      'the aborted run in S3',
      async () =>
        (await bed.s3.keys(`kl-test/${host}/${runId}/`)).some((k) => k.endsWith('/report.json')),
      120_000,
    );
    expect(JSON.parse(await bed.s3.text(`kl-test/${host}/${runId}/report.json`))).toMatchObject({
      outcome: 'aborted',
    });
  });
});
