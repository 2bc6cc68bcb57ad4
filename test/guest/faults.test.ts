/**
 * The fault table (README "Faults"), on one guest (needs root and QEMU). Each row
 * injects a real fault at one step of a leap, and must end with the session
 * running on the old kernel, restored on the new one, restored on the old one by
 * the next boot (a reset, a power cut, the reboot after the new kernel panics),
 * failed with its images kept (criu hung at the restore), or (only when a restart
 * cut the restore itself short) kept in its images with a report that says how to
 * restore them. After every row nothing of the leap is left in force: no
 * kernel-leap unit enabled, no lock rule, window scaling as it was, no kernel
 * loaded, and the run has an outcome that `report` explains. The rows that stay on
 * the old kernel come first (criu killed or stopped mid-dump among them); then the
 * worker killed mid-dump of a 256 MiB session, which jumps, before the disk full at
 * the dump (a 6.1 guest's ext4 oopsed writing a large dump on a disk that had just
 * been full, so no large write follows a fill); a reset after --no-exec
 * (QEMU left running, so the host's ssh connection lives); criu stopped at that
 * boot's restore; a power cut after the jump; a power cut mid-restore; criu and
 * the restore unit killed at boot; the disk filled right after the dump; and
 * last, once the guest boots through GRUB, a target kernel that panics, whose
 * reboot GRUB sends to the old kernel once, then a good leap whose one-shot the
 * cleanup clears.
 * checkpoint.test.ts holds two more rows on its guest: a post-dump failure, and the
 * worker killed during --pre.
 */
import { readFileSync, statSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import {
  ARTEFACTS_GONE,
  expectEventually,
  latestJournal,
  withPostMortem,
} from '../helpers/leap.js';
import { usePreparedGuest } from '../helpers/prepared-guest.js';
import type { VmSession } from '../helpers/vm-session.js';

const TICKER = 'while :; do echo "tick $(date +%s%N) $(uname -r)"; sleep 0.2; done';
/** The command in a session with a ticker, then its exit code, then a line that proves the shell goes on. */
const withTicker = (command: string) =>
  `(${TICKER}) & sleep 2; ${command}; echo "EXIT=$?"; sleep 3; echo AFTER; sleep 2; kill %1; sleep 600`;
/**
 * Waits in the guest for criu's dump (`^criu dump`: the pattern must not match this
 * shell's own command line), then runs `then` with $criu set to its pid.
 */
const whenCriuDumps = (args: string, then: string) =>
  `until criu=$(pgrep -o -f '^criu dump ${args}'); do sleep 0.05; done; ${then}`;
/**
 * A job with no terminal that outlives its shell: each second it writes its kernel
 * and the time, each file whole by a rename, so a read never finds one emptied.
 */
const JOB_LOOP = 'while :; do uname -r > /root/job.k; mv /root/job.k /root/job.kernel;';
const NOHUP_JOB = `nohup sh -c '${JOB_LOOP} date +%s > /root/job.t; mv /root/job.t /root/job.tick; sleep 1; done' >/dev/null 2>&1 &`;
/** Seconds criu's post-dump hook holds a dump for the row that kills criu mid-dump. */
const HOLD_S = 97;
/**
 * Writes a criu action script at `path` that runs `then` at post-dump: the tasks are
 * still seized but criu's parasites are out of them. A criu killed or stopped while
 * its parasite runs inside a task takes that task down (seen once in CI: the
 * session's sshd-session died), which no tool can undo, so the rows fault it here.
 */
const atPostDump = (path: string, then: string) =>
  `printf '#!/bin/sh\n[ "$CRTOOLS_SCRIPT_ACTION" = post-dump ] && ${then}\nexit 0\n' > ${path} && chmod 700 ${path}`;
/** A leap with criu's extra action script: the test's hook, beside kernel-leap's own. */
const withActionScript = (path: string, command: string) =>
  `KERNEL_LEAP_CRIU_EXTRA_DUMP_ARGS='--action-script ${path}' ${command}`;
/** True in the guest while the newest run's journal has that phase running. */
const phaseRunning = (phase: string) =>
  `grep -A1 '"${phase}": {' /var/lib/kernel-leap/latest/journal.json 2>/dev/null | grep -q '"running"'`;
/** criu's worker, found from criu's cgroup, ended as the OOM killer would: the main process only. */
const KILL_WORKER =
  'systemctl kill --kill-whom=main --signal=KILL "$(grep -o "kernel-leap-worker-[^/]*\\.service" /proc/$criu/cgroup)"';

/**
 * The fault injector of the last row, run by a unit of the leap's boot only: it
 * kills criu restore once (as the OOM killer would), then the restore unit's Node
 * the moment the run's outcome is written, before its cleanup can end: a busy
 * loop and the shell's own kill, since a fork would take longer than the cleanup.
 * The unit removes its own enable link first, so it acts on one boot.
 */
const BOOT_FAULTS_SCRIPT = [
  '#!/bin/bash',
  "until c=$(pgrep -o -f '^criu restore'); do sleep 0.05; done",
  'node=$(systemctl show -p MainPID --value kernel-leap-restore.service)',
  'sleep 0.3; kill -KILL "$c"; echo "killed criu $c" > /root/boot-faults',
  'outcome=/var/lib/kernel-leap/latest/outcome',
  'while [ ! -s "$outcome" ]; do :; done',
  'kill -KILL "$node"; echo "killed the restore unit\'s node $node" >> /root/boot-faults',
  '',
].join('\n');
const BOOT_FAULTS_UNIT = [
  '[Unit]',
  'DefaultDependencies=no',
  'After=local-fs.target',
  'ConditionKernelCommandLine=kernel_leap.run',
  '[Service]',
  'ExecStartPre=/bin/rm -f /etc/systemd/system/sysinit.target.wants/kl-boot-faults.service',
  'ExecStart=/bin/bash /root/boot-faults.sh',
  '[Install]',
  'WantedBy=sysinit.target',
  '',
].join('\n');

/** The memory the session of the worker-kill row holds. */
const HELD_MIB = 256;
/**
 * Holds MiB of written memory (each page begins with its own offset, so a page
 * put back in the wrong place or lost changes the sum), prints its CRC, and again
 * on SIGUSR1: the same line after the leap is the memory intact.
 */
const HOLD_MEMORY = [
  'import signal, sys, time, zlib',
  'held = bytearray(int(sys.argv[1]) << 20)',
  'for at in range(0, len(held), 4096):',
  '    held[at:at + 8] = at.to_bytes(8, "little")',
  'def show(*_):',
  '    print("MEM", zlib.crc32(held), flush=True)',
  'signal.signal(signal.SIGUSR1, show)',
  'show()',
  'open("/root/hold.ready", "w").close()',
  'while True:',
  '    time.sleep(3600)',
  '',
].join('\n');
/**
 * Steps the wall clock an hour forward on the next boot, before the restore's
 * gates, as an NTP step would; once: it removes its own enable link first.
 */
const CLOCK_STEP_UNIT = [
  '[Unit]',
  'DefaultDependencies=no',
  'After=local-fs.target',
  'Before=kernel-leap-restore.service kernel-leap-rules.service',
  '[Service]',
  'Type=oneshot',
  'ExecStartPre=/bin/rm -f /etc/systemd/system/sysinit.target.wants/kl-clock-step.service',
  'ExecStart=/bin/sh -c \'date -s "+1 hour" && echo stepped\'',
  '[Install]',
  'WantedBy=sysinit.target',
  '',
].join('\n');
/**
 * criu's action script for the row that fills the disk right after the dump: at
 * post-dump (the images written, the tree not yet killed) it takes every block
 * left, root's reserve included, in /tmp, which the next boot empties.
 */
const FILL_AFTER_DUMP = [
  '#!/bin/sh',
  '[ "$CRTOOLS_SCRIPT_ACTION" = post-dump ] || exit 0',
  'i=0',
  'for size in 1G 256M 64M 16M 4M 1M 256K 64K 16K 4K; do',
  '  while fallocate -l $size /tmp/fill.$i 2>/dev/null; do i=$((i+1)); done',
  'done',
  'exit 0',
  '',
].join('\n');
/** restore.restore_timeout for the row that stops criu mid-restore. */
const RESTORE_BOUND_S = 20;
/** Stops the boot's criu restore once, as a hung criu would hang (not the `criu check` that learns the kernel beside it). */
const STOP_CRIU_SCRIPT = [
  '#!/bin/sh',
  "until c=$(pgrep -o -f '^criu restore'); do sleep 0.05; done",
  'kill -STOP "$c"; echo "stopped criu $c" > /root/criu-stopped',
  '',
].join('\n');
/** On the next boot only, whatever its kernel command line: it removes its own enable link first. */
const STOP_CRIU_UNIT = [
  '[Unit]',
  'DefaultDependencies=no',
  'After=local-fs.target',
  '[Service]',
  'ExecStartPre=/bin/rm -f /etc/systemd/system/sysinit.target.wants/kl-stop-criu.service',
  'ExecStart=/bin/sh /root/stop-criu.sh',
  '[Install]',
  'WantedBy=sysinit.target',
  '',
].join('\n');

/** A kernel release in a RegExp: 6.12.107+deb13 has a +. */
const escaped = (release: string) => release.replace(/[.+]/g, '\\$&');

/** GRUB's environment block with the one-shot entry of `release` (the submenu's entry of 10_linux). */
const oneShotTo = (release: string) =>
  new RegExp(`^next_entry=gnulinux-advanced-[^>]+>gnulinux-${escaped(release)}-advanced-`, 'm');

describe('faults, each at one step of a leap', () => {
  const bed = usePreparedGuest();

  /** Waits for `pattern` on the guest's console, past what the console held when this was called. */
  function consoleWaiter(): (pattern: RegExp, timeoutMs: number) => Promise<true> {
    const log = bed.guest.connection.serialLog;
    const from = statSync(log).size;
    // By bytes: the console holds multi-byte characters, and what comes first may be the line looked for.
    return (pattern, timeoutMs) =>
      expectEventually(
        `the console to show ${pattern}`,
        async () => pattern.test(readFileSync(log).subarray(from).toString('utf8')),
        timeoutMs,
      );
  }

  /** After a power cut: the cold boot on the old kernel is up, clean, and the run waits for a restore by hand, for this reason. */
  async function expectKeptAfterPowerCut(runId: string, because: RegExp): Promise<void> {
    expect((await bed.guest.run('uname -r')).trim()).toBe(bed.guest.connection.oldKernel);
    expect(
      (
        await bed.guest.exec('systemctl is-system-running --wait', { timeoutMs: 300_000 })
      ).stdout.trim(),
    ).toMatch(/^(running|degraded)$/);
    await expectNothingLeft();
    const r = await report(runId);
    expect(r.outcome).toBe('interrupted');
    expect(r.phases.find((p) => p.name === 'restore')).toMatchObject({
      error: expect.stringMatching(because),
      hint: expect.stringContaining(`kernel-leap restore --run ${runId}`),
    });
    expect(
      Number((await bed.guest.run(`ls /var/lib/kernel-leap/runs/${runId}/images | wc -l`)).trim()),
    ).toBeGreaterThan(0);
  }

  /** Waits until the newest run says dumped (an `upgrade --no-exec`), and returns its id. */
  async function dumpedRun(): Promise<string> {
    await expectEventually(
      'the run to say dumped',
      async () =>
        (
          await bed.guest.exec('cat /var/lib/kernel-leap/latest/outcome 2>/dev/null')
        ).stdout.trim() === 'dumped',
      300_000,
    );
    return (await latestJournal(bed.guest)).runId;
  }

  /** `kexec -e` typed by hand after --no-exec: the ssh of this command ends with the kernel it leaves. */
  async function jumpByHand(): Promise<void> {
    await bed.guest.exec('kexec -e', { timeoutMs: 10_000 }).catch(() => undefined);
  }

  /** The shell went on after the command: its AFTER line, with the ticker still printing around it. */
  async function expectSessionGoesOn(s: VmSession, exit: number): Promise<void> {
    await s.waitForLine(/^EXIT=\d+$/, 300_000);
    expect(s.output()).toContain(`EXIT=${exit}`);
    const after = await s.waitForLine(/^AFTER$/, 30_000);
    expect(s.lines.some((l) => l.at > after.at - 2500 && /^tick/.test(l.text))).toBe(true);
  }

  async function expectNothingLeft(): Promise<void> {
    expect((await bed.guest.run(ARTEFACTS_GONE)).trim()).toBe('0');
    expect(
      (await bed.guest.run('ls /etc/systemd/system/*.wants/ | grep -c kernel-leap || true')).trim(),
    ).toBe('0');
    expect((await bed.guest.run('iptables-save | grep -c 0xc114 || true')).trim()).toBe('0');
    expect((await bed.guest.run('cat /proc/sys/net/ipv4/tcp_window_scaling')).trim()).toBe('1');
    expect((await bed.guest.run('cat /sys/kernel/kexec_loaded')).trim()).toBe('0');
  }

  async function report(runId: string): Promise<{
    outcome: string;
    phases: Array<{ name: string; status: string; error?: string; hint?: string }>;
  }> {
    return JSON.parse(
      (await bed.guest.run(`kernel-leap report --run ${runId} --json`)).trim().split('\n').at(-1) ??
        '{}',
    );
  }

  it('Ctrl-C in the session during --pre, with S3 down: the worker stops before the freeze, and the spooled logs ship later', async () => {
    await bed.s3.stop();
    const s = bed.open(withTicker("kernel-leap upgrade --yes --no-rehearse --pre 'sleep 30'"));
    await bed.guest.run(`until ${phaseRunning('pre')}; do sleep 0.1; done`, { timeoutMs: 180_000 });
    const { runId } = await latestJournal(bed.guest);
    s.write('\x03');
    await expectSessionGoesOn(s, 1);
    expect(s.output()).toMatch(/cancel requested/);
    expect(s.output()).toMatch(/: aborted/);
    expect((await report(runId)).outcome).toBe('aborted');
    await expectNothingLeft();
    await bed.s3.resume();
    await bed.guest.run('kernel-leap upload-logs');
    const host = (await bed.guest.run('hostname')).trim();
    expect(await bed.s3.keys(`kl-test/${host}/${runId}/`)).toContain(
      `kl-test/${host}/${runId}/report.json`,
    );
  });

  it("the worker killed during the rehearsal's freeze: criu resumes the session, the run is aborted", async () => {
    const s = bed.open(withTicker('kernel-leap upgrade --yes'));
    await bed.guest.run(whenCriuDumps('.*--leave-running', KILL_WORKER), { timeoutMs: 180_000 });
    await expectSessionGoesOn(s, 1);
    expect(s.output()).toMatch(/the worker ended without an outcome \(killed by signal KILL\)/);
    const { runId } = await latestJournal(bed.guest);
    expect((await report(runId)).outcome).toBe('aborted');
    await expectNothingLeft();
  });

  it.each(['plan', 'load', 'prepare'])(
    'the worker killed during %s: the session goes on, the boot is undone, the run is aborted',
    async (phase) => {
      const s = bed.open(withTicker('kernel-leap upgrade --yes --no-rehearse'));
      await bed.guest.run(
        `until ${phaseRunning(phase)}; do sleep 0.05; done; systemctl kill --kill-whom=main --signal=KILL "kernel-leap-worker-$(basename "$(readlink -f /var/lib/kernel-leap/latest)").service"`,
        { timeoutMs: 180_000 },
      );
      await expectSessionGoesOn(s, 1);
      const { runId, phases } = await latestJournal(bed.guest);
      expect(phases[phase]?.status).toBe('failed');
      expect((await report(runId)).outcome).toBe('aborted');
      await expectNothingLeft();
    },
  );

  it('criu killed (kill -9) mid-dump: the session resumes, its lock rules go, the run is dump-failed', async () => {
    // The hook holds criu until it is killed: a dump that ends between the check and the kill
    // would go on to the jump (seen once in CI). The worker's OOMScoreAdjust keeps the OOM
    // killer off criu, whose parasites can be in the tasks.
    await bed.guest.run(atPostDump('/root/hold-post-dump', `exec sleep ${HOLD_S}`));
    const s = bed.open(
      withTicker(
        withActionScript('/root/hold-post-dump', 'kernel-leap upgrade --yes --no-rehearse'),
      ),
    );
    await bed.guest.run(
      whenCriuDumps(
        '',
        `until pgrep -x -f 'sleep ${HOLD_S}' >/dev/null; do sleep 0.05; done; cat /proc/$criu/oom_score_adj > /root/criu-oom; kill -KILL $criu; pkill -x -f 'sleep ${HOLD_S}' || true`,
      ),
      { timeoutMs: 180_000 },
    );
    expect((await bed.guest.run('cat /root/criu-oom')).trim()).toBe('-1000');
    await expectSessionGoesOn(s, 1);
    const { runId } = await latestJournal(bed.guest);
    expect((await report(runId)).outcome).toBe('dump-failed');
    await expectNothingLeft();
  });

  it('criu stopped (SIGSTOP) mid-dump: killed at its bound, sized from the memory, the session runs again on the old kernel with no DROP rule left', async () => {
    await bed.guest.run(
      atPostDump('/root/stop-post-dump', 'kill -STOP $(pgrep -o -f "^criu dump")'),
    );
    const s = bed.open(
      withTicker(
        withActionScript('/root/stop-post-dump', 'kernel-leap upgrade --yes --no-rehearse'),
      ),
    );
    await bed.guest.run(
      whenCriuDumps('', `until grep -q '^State:.*stopped' /proc/$criu/status; do sleep 0.05; done`),
      { timeoutMs: 180_000 },
    );
    const stopped = Date.now();
    // A second upgrade, from another session, while this one is under way: it refuses, and touches nothing.
    const second = await bed.guest.exec('kernel-leap upgrade --yes --no-rehearse');
    expect(second.exitCode).toBe(3);
    expect(second.stdout + second.stderr).toMatch(/another leap is under way on this machine/);
    await expectSessionGoesOn(s, 1);
    // An idle session's bound is a minute and a little: the session never waits for the old 10 minutes.
    expect(Date.now() - stopped).toBeLessThan(150_000);
    const { runId } = await latestJournal(bed.guest);
    const r = await report(runId);
    expect(r.outcome).toBe('dump-failed');
    expect(r.phases.find((p) => p.name === 'dump')).toMatchObject({
      status: 'failed',
      error: expect.stringMatching(/^criu dump outran its bound and was killed/),
    });
    expect((await bed.guest.run('pgrep -x criu || true')).trim()).toBe('');
    await expectNothingLeft();
  });

  it('the worker killed mid-dump of a session holding 256 MiB: criu finishes the dump within the bound its memory sets, and the settle carries the run to the new kernel, the memory intact', async () => {
    await bed.guest.run('cat > /root/hold.py', { input: HOLD_MEMORY });
    // Read before the upgrade starts: on a loaded host this ssh can outlast the 12 s to the kexec.
    const boot = await bed.guest.bootId();
    const s = bed.open(
      withTicker(
        `python3 /root/hold.py ${HELD_MIB} & until [ -e /root/hold.ready ]; do sleep 0.5; done; kernel-leap upgrade --yes --no-rehearse`,
      ),
    );
    const before = await s.waitForLine(/^MEM \d+$/, 300_000);
    // The stop timeout the settle runs under, read as the worker is killed.
    const stopTimeout = await bed.guest.run(
      whenCriuDumps(
        '',
        `systemctl show -p TimeoutStopUSec --value "$(grep -o "kernel-leap-worker-[^/]*\\.service" /proc/$criu/cgroup)"; ${KILL_WORKER}`,
      ),
      { timeoutMs: 300_000 },
    );
    await withPostMortem(bed.guest, () => bed.guest.waitForNewBoot(boot, 900_000));
    const back = await s.waitForLine(
      new RegExp(`^tick \\d+ ${bed.guest.connection.newKernel.replace(/\+/g, '\\+')}$`),
      420_000,
    );
    expect(back.text).toContain(bed.guest.connection.newKernel);
    await expectSessionGoesOn(s, 0);
    await bed.guest.run('pkill -USR1 -f "^python3 /root/hold.py"');
    await expectEventually(
      'the restored process to sum its memory again',
      async () => s.lines.filter((l) => /^MEM \d+$/.test(l.text)).length > 1,
      120_000,
    );
    expect(s.lines.filter((l) => /^MEM \d+$/.test(l.text)).map((l) => l.text)).toEqual([
      before.text,
      before.text,
    ]);
    const { runId, phases, marks } = await latestJournal(bed.guest);
    expect(marks['worker.ended']).toBeDefined();
    expect(phases.dump?.status).toBe('done');
    expect((await report(runId)).outcome).toBe('restored');
    // Sized from the 256 MiB (a minute, a quarter second a MiB, then sync and the jump): over
    // the fixed 420 s it replaced, and far over systemd's 90 s.
    const [, min, sec] = /^(?:(\d+)min )?(\d+)s$/.exec(stopTimeout.trim()) ?? [];
    expect(Number(min ?? 0) * 60 + Number(sec)).toBeGreaterThanOrEqual(60 + HELD_MIB / 4 + 300);
    await bed.guest.run('pkill -f "^python3 /root/hold.py"; rm -f /root/hold.ready');
    await expectNothingLeft();
  });

  it('the disk full at the dump: the session resumes, the run is dump-failed and says why', async () => {
    // Everything but 2 MB taken, root's reserve included: the run's journal fits, the images do not.
    await bed.guest.run(
      'fallocate -l 2M /var/tmp/fill.keep && i=0 && for size in 1G 256M 64M 16M 4M 1M 256K 64K 16K 4K; do while fallocate -l $size /var/tmp/fill.$i 2>/dev/null; do i=$((i+1)); done; done; rm /var/tmp/fill.keep; df -h /',
    );
    try {
      // The row before left the guest on the newest kernel: name the other one.
      const { oldKernel } = bed.guest.connection;
      const s = bed.open(
        withTicker(`kernel-leap upgrade --yes --no-rehearse --kernel ${oldKernel}`),
      );
      await expectSessionGoesOn(s, 1);
      const { runId } = await latestJournal(bed.guest);
      const r = await report(runId);
      expect(r.outcome).toBe('dump-failed');
      expect(JSON.stringify(r.phases.find((p) => p.name === 'dump'))).toMatch(
        /No space left on device/,
      );
    } finally {
      await bed.guest.run('rm -f /var/tmp/fill.*');
    }
    await expectNothingLeft();
  });

  it('a reset after upgrade --no-exec said dumped (QEMU left running, as a VM reboots), and the clock stepped an hour forward early in that boot: the boot restores the session on the old kernel over the same ssh connection', async () => {
    // The row before left the guest on the newest kernel: the default target would be none.
    const { oldKernel } = bed.guest.connection;
    await bed.guest.run(
      'cat > /etc/systemd/system/kl-clock-step.service && systemctl enable --quiet kl-clock-step.service',
      { input: CLOCK_STEP_UNIT },
    );
    const s = bed.open(
      withTicker(`kernel-leap upgrade --yes --no-rehearse --no-exec --kernel ${oldKernel}`),
    );
    await expectEventually(
      'the run to say dumped',
      async () =>
        (
          await bed.guest.exec('cat /var/lib/kernel-leap/latest/outcome 2>/dev/null')
        ).stdout.trim() === 'dumped',
      300_000,
    );
    const { runId } = await latestJournal(bed.guest);
    // Another session's upgrade while the run waits for its boot: it refuses, naming the run and how to finish it.
    const second = await bed.guest.exec('kernel-leap upgrade --yes --no-rehearse');
    expect(second.exitCode).toBe(3);
    expect(second.stdout + second.stderr).toMatch(
      new RegExp(`run ${runId} is dumped and waits for the next boot to restore it`),
    );
    expect((await latestJournal(bed.guest)).runId).toBe(runId);
    const boot = await bed.guest.bootId();
    await bed.guest.rebootInPlace();
    // The ssh of this command ends with the kernel it reset.
    await bed.guest
      .exec('echo b > /proc/sysrq-trigger', { timeoutMs: 10_000 })
      .catch(() => undefined);
    await withPostMortem(bed.guest, async () => {
      await bed.guest.waitForNewBoot(boot, 420_000);
      await s.waitForLine(new RegExp(`^tick \\d+ ${oldKernel.replace(/\+/g, '\\+')}$`), 300_000);
    });
    await expectSessionGoesOn(s, 0);
    // The step happened, before the restore's gates: an hour ahead of the host.
    expect(Number(await bed.guest.run('date +%s')) - Date.now() / 1000).toBeGreaterThan(3000);
    expect(await bed.guest.run('journalctl -b -o cat -u kl-clock-step.service')).toMatch(/stepped/);
    await bed.guest.setClock();
    const r = await report(runId);
    expect(r.outcome).toBe('restored');
    expect(JSON.stringify(r)).not.toMatch(/restored shut down/);
    await expectNothingLeft();
  });

  it('criu stopped (SIGSTOP) mid-restore at boot: killed at its bound, the run failed with its images kept, no DROP rule left and no unit to run again at the next boot', async () => {
    await bed.guest.run('cat > /root/stop-criu.sh', { input: STOP_CRIU_SCRIPT });
    await bed.guest.run(
      'cat > /etc/systemd/system/kl-stop-criu.service && systemctl enable --quiet kl-stop-criu.service',
      { input: STOP_CRIU_UNIT },
    );
    // A short bound for the restore, as a user may set it: the row waits it out.
    bed.open(
      withTicker(
        `kernel-leap upgrade --yes --no-rehearse --no-exec --set restore.restore_timeout=${RESTORE_BOUND_S}`,
      ),
    );
    await expectEventually(
      'the run to say dumped',
      async () =>
        (
          await bed.guest.exec('cat /var/lib/kernel-leap/latest/outcome 2>/dev/null')
        ).stdout.trim() === 'dumped',
      300_000,
    );
    const { runId } = await latestJournal(bed.guest);
    const boot = await bed.guest.bootId();
    await bed.guest.rebootInPlace();
    await bed.guest
      .exec('echo b > /proc/sysrq-trigger', { timeoutMs: 10_000 })
      .catch(() => undefined);
    await withPostMortem(bed.guest, async () => {
      await bed.guest.waitForNewBoot(boot, 420_000);
      await expectEventually(
        'the restore to fail',
        async () =>
          (
            await bed.guest.exec(`cat /var/lib/kernel-leap/runs/${runId}/outcome 2>/dev/null`)
          ).stdout.trim() === 'failed',
        300_000,
      );
    });
    expect(await bed.guest.run('cat /root/criu-stopped')).toMatch(/^stopped criu \d+/);
    const r = await report(runId);
    expect(r.phases.find((p) => p.name === 'restore')).toMatchObject({
      status: 'failed',
      error: expect.stringMatching(/^criu restore outran its bound and was killed/),
    });
    expect(
      Number((await bed.guest.run(`ls /var/lib/kernel-leap/runs/${runId}/images | wc -l`)).trim()),
    ).toBeGreaterThan(0);
    expect((await bed.guest.run('pgrep -x criu || true')).trim()).toBe('');
    // The unit's cleanup may still run after the outcome.
    await expectEventually(
      'the restore unit to finish',
      async () =>
        (await bed.guest.exec('systemctl is-active kernel-leap-restore.service')).stdout.trim() !==
        'activating',
      120_000,
    );
    await expectNothingLeft();
  });

  it('a power cut after the jump, before the restore: the cold boot restores the session on the old kernel, what ran without the connection goes on, and the report says the new kernel did not boot', async () => {
    const earlier = (await latestJournal(bed.guest)).runId;
    const seen = consoleWaiter();
    const s = bed.open(`${NOHUP_JOB} sleep 2; kernel-leap upgrade --yes --no-rehearse; sleep 600`);
    // The run's id while ssh still answers; the new kernel's first line on the console.
    await expectEventually(
      'the run to start',
      async () => (await latestJournal(bed.guest)).runId !== earlier,
      240_000,
    ).catch((error: unknown) => {
      throw new Error(`${String(error)}\nthe session said:\n${s.output()}`);
    });
    const { runId } = await latestJournal(bed.guest);
    await seen(
      new RegExp(`Linux version ${bed.guest.connection.newKernel.replace(/\+/g, '\\+')} `),
      420_000,
    );
    await bed.guest.powerCut();
    expect((await bed.guest.run('uname -r')).trim()).toBe(bed.guest.connection.oldKernel);
    // The ssh connection died with QEMU; the nohup job, restored with its tree, goes on.
    const before = Number((await bed.guest.run('cat /root/job.tick')).trim());
    await expectEventually(
      'the nohup job to run again',
      async () => Number((await bed.guest.run('cat /root/job.tick')).trim()) > before,
      120_000,
    );
    expect((await bed.guest.run('cat /root/job.kernel')).trim()).toBe(
      bed.guest.connection.oldKernel,
    );
    const r = await report(runId);
    expect(r.outcome).toBe('restored');
    expect(r.phases.find((p) => p.name === 'kexec')).toMatchObject({
      status: 'failed',
      error: expect.stringMatching(/did not boot/),
    });
    await bed.guest.run(`pkill -f '^sh -c ${JOB_LOOP}' || true`);
    await expectNothingLeft();
  });

  it('a power cut mid-restore: the next boot settles the run it cut short, and its images still restore by hand', async () => {
    const seen = consoleWaiter();
    bed.open(`${NOHUP_JOB} sleep 2; kernel-leap upgrade --yes --no-rehearse; sleep 600`);
    // restore-fast.sh's line as it starts criu; Node, which would end the restore's bookkeeping, starts after it.
    await seen(/kernel-leap: restoring run \S+: criu restore/, 420_000);
    await new Promise((r) => setTimeout(r, 1000));
    await bed.guest.powerCut();
    const { runId } = await latestJournal(bed.guest);
    await expectKeptAfterPowerCut(runId, /the restore at boot was cut short/);
    const stopped = Number((await bed.guest.run('cat /root/job.tick')).trim());
    await bed.guest.run(`kernel-leap restore --run ${runId}`, { timeoutMs: 300_000 });
    await expectEventually(
      'the nohup job to run again',
      async () => Number((await bed.guest.run('cat /root/job.tick')).trim()) > stopped,
      60_000,
    );
    expect((await report(runId)).outcome).toBe('restored');
    await bed.guest.run(`pkill -f '^sh -c ${JOB_LOOP}' || true`);
    await expectNothingLeft();
  });

  it('criu killed mid-restore, then the restore unit killed mid-cleanup: criu restores again, and the next boot finishes the cleanup', async () => {
    await bed.guest.run('cat > /root/boot-faults.sh', { input: BOOT_FAULTS_SCRIPT });
    await bed.guest.run(
      'cat > /etc/systemd/system/kl-boot-faults.service && systemctl enable --quiet kl-boot-faults.service',
      { input: BOOT_FAULTS_UNIT },
    );
    // Read before the upgrade starts: on a loaded host this ssh can outlast the 12 s to the kexec.
    const boot = await bed.guest.bootId();
    const s = bed.open(withTicker('kernel-leap upgrade --yes --no-rehearse'));
    await withPostMortem(bed.guest, async () => {
      await bed.guest.waitForNewBoot(boot, 420_000);
      await s.waitForLine(
        new RegExp(`^tick \\d+ ${bed.guest.connection.newKernel.replace(/\+/g, '\\+')}$`),
        300_000,
      );
    });
    await expectSessionGoesOn(s, 0);
    await expectEventually(
      'the injector to kill the restore unit',
      async () =>
        (await bed.guest.run('cat /root/boot-faults 2>/dev/null || true')).includes(
          'killed the restore unit',
        ),
      120_000,
    );
    const { runId, phases } = await latestJournal(bed.guest);
    // Killed between the outcome and the end of the cleanup: not started, or cut short.
    expect(['pending', 'running']).toContain(phases.cleanup?.status);
    const journal = JSON.parse(
      await bed.guest.run(`cat /var/lib/kernel-leap/runs/${runId}/journal.json`),
    ) as { changes: Array<{ kind: string }> };
    expect(journal.changes.map((c) => c.kind)).toContain('restore-again');
    expect((await report(runId)).outcome).toBe('restored');
    // The next boot (a power cycle: the test's QEMU does not reboot) finishes what the kill left.
    await bed.guest.powerCut();
    expect(
      (
        await bed.guest.exec('systemctl is-system-running --wait', { timeoutMs: 300_000 })
      ).stdout.trim(),
    ).toMatch(/^(running|degraded)$/);
    await expectNothingLeft();
    expect((await latestJournal(bed.guest)).phases.cleanup?.status).toBe('done');
    expect((await report(runId)).outcome).toBe('restored');
  });

  it("the disk full right after criu's dump (root filled /tmp from criu's post-dump hook): the images are kept, the leap goes on to the jump, and the new boot, whose /tmp is emptied, restores the session", async () => {
    await bed.guest.run('cat > /root/fill-post-dump && chmod 700 /root/fill-post-dump', {
      input: FILL_AFTER_DUMP,
    });
    const boot = await bed.guest.bootId();
    const s = bed.open(
      withTicker(
        withActionScript('/root/fill-post-dump', 'kernel-leap upgrade --yes --no-rehearse'),
      ),
    );
    await withPostMortem(bed.guest, async () => {
      await bed.guest.waitForNewBoot(boot, 420_000);
      await s.waitForLine(
        new RegExp(`^tick \\d+ ${escaped(bed.guest.connection.newKernel)}$`),
        300_000,
      );
    });
    await expectSessionGoesOn(s, 0);
    const { runId, phases } = await latestJournal(bed.guest);
    // The disk was full: the journal's own write of the dump failed, the images did not.
    expect(JSON.stringify(phases.dump)).toMatch(
      /criu finished the dump; what failed after it: .*ENOSPC/,
    );
    expect((await report(runId)).outcome).toBe('restored');
    expect((await bed.guest.run('ls /tmp | grep -c "^fill\\." || true')).trim()).toBe('0');
    await expectNothingLeft();
  });

  it('a target kernel that fails to boot (init=/bin/false), on a machine that boots through GRUB: after the dump the leap sets GRUB to boot the running kernel once, the new kernel panics, panic= reboots the guest through GRUB into the old kernel though the newer one is the default, and the session is restored there over the same connection', async () => {
    const { oldKernel } = bed.guest.connection;
    // grub.cfg by update-grub (its default, the newest kernel), then a cold boot of the old one through GRUB.
    await bed.guest.bootThroughGrub();
    expect(await bed.guest.run('grub-editenv list')).not.toMatch(/^next_entry=./m);
    await bed.guest.rebootInPlace();
    const seen = consoleWaiter();
    const s = bed.open(
      withTicker(
        'kernel-leap upgrade --yes --no-rehearse --no-exec --set kexec.cmdline="$(cat /proc/cmdline) init=/bin/false"',
      ),
    );
    const runId = await dumpedRun();
    expect(s.output()).toMatch(new RegExp(`GRUB one-shot to ${escaped(oldKernel)}`));
    expect(await bed.guest.run('grub-editenv list')).toMatch(oneShotTo(oldKernel));
    const boot = await bed.guest.bootId();
    await jumpByHand();
    await withPostMortem(bed.guest, async () => {
      await seen(/Attempted to kill init/, 420_000);
      // GRUB's own line: the reboot took the one-shot entry of the old kernel, not the default.
      await seen(
        new RegExp(`Booting .Debian GNU/Linux, with Linux ${escaped(oldKernel)}`),
        300_000,
      );
      await bed.guest.waitForNewBoot(boot, 420_000);
      await s.waitForLine(new RegExp(`^tick \\d+ ${escaped(oldKernel)}$`), 300_000);
    });
    await expectSessionGoesOn(s, 0);
    const r = await report(runId);
    expect(r.outcome).toBe('restored');
    // The jump was typed by hand after --no-exec: the leap made none, and cannot tell this boot
    // from a reset (the power-cut row shows the report of a jump the leap made and lost).
    expect(r.phases.find((p) => p.name === 'kexec')).toMatchObject({ status: 'pending' });
    // GRUB used the one-shot up as it booted it.
    expect(await bed.guest.run('grub-editenv list')).not.toMatch(/^next_entry=./m);
    await expectNothingLeft();
  });

  it('on a machine that boots through GRUB, a good leap: the one-shot to the old kernel is set after the dump, and cleared by the cleanup once the new kernel has restored the session, the default left as the distribution set it', async () => {
    const { oldKernel, newKernel } = bed.guest.connection;
    expect((await bed.guest.run('cat /proc/cmdline')).startsWith('BOOT_IMAGE=')).toBe(true);
    const grubDefault = await bed.guest.run('grub-editenv list');
    const s = bed.open(withTicker('kernel-leap upgrade --yes --no-rehearse --no-exec'));
    const runId = await dumpedRun();
    expect(await bed.guest.run('grub-editenv list')).toMatch(oneShotTo(oldKernel));
    const boot = await bed.guest.bootId();
    await jumpByHand();
    await withPostMortem(bed.guest, async () => {
      await bed.guest.waitForNewBoot(boot, 420_000);
      await s.waitForLine(new RegExp(`^tick \\d+ ${escaped(newKernel)}$`), 300_000);
    });
    await expectSessionGoesOn(s, 0);
    expect((await report(runId)).outcome).toBe('restored');
    await expectEventually(
      'the cleanup to clear the one-shot',
      async () => !/^next_entry=./m.test(await bed.guest.run('grub-editenv list')),
      120_000,
    );
    // Nothing else of GRUB's environment changed (an empty next_entry is GRUB's own way to clear it).
    const besidesOneShot = (block: string) =>
      block.split('\n').filter((l) => !l.startsWith('next_entry='));
    expect(besidesOneShot(await bed.guest.run('grub-editenv list'))).toEqual(
      besidesOneShot(grubDefault),
    );
    await expectNothingLeft();
  });
});
