/**
 * The Debian 13 bed end to end (needs root and QEMU; one guest boot, one leap):
 * kernel 6.12.107 to 6.12.117, CRIU 4.1.1, OpenSSH 10.0 (`sshd-session:`
 * processes), systemd 257, iptables on nf_tables, ifupdown. The guest runs the
 * shipped defaults (only the [s3] section is set). A live ssh session from the
 * host with a ticker and an echo connection types `kernel-leap upgrade`; it comes
 * back on the new kernel, what the host types reaches the restored shell, the
 * report's downtime matches the gap the host saw, no lock rule or boot artefact
 * is left, and the logs are in S3. The bookworm bed's tests cover the rest
 * (restore edge cases, --all-ssh, a second leap); this one proves the second world.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leapWithLiveSession } from '../helpers/demo-run.js';
import { expectCarried } from '../helpers/expect-leap.js';
import { ARTEFACTS_GONE, prepareGuest } from '../helpers/leap.js';
import { LocalS3 } from '../helpers/s3rver.js';
import { bootGuest, type Vm } from '../helpers/vm-boot.js';

const log = (line: string) => console.log(`[trixie] ${line}`);

describe('Debian 13 (trixie): one command carries a live ssh session across a kernel upgrade', () => {
  const started = Date.now();
  let guest: Vm;
  let s3: LocalS3;

  beforeAll(async () => {
    s3 = await LocalS3.start();
    guest = await bootGuest({ dist: 'trixie', log });
    await prepareGuest(guest, s3);
  });
  afterAll(async () => {
    await guest?.stop();
    await s3?.stop();
    log(`whole file: ${((Date.now() - started) / 1000).toFixed(1)} s (boot to sshd ${((guest?.bootToSshMs ?? 0) / 1000).toFixed(1)} s)`);
  });

  it('check finds CRIU 4.1.1 and states what it can do; the session is an sshd-session one', async () => {
    const check = await guest.exec('kernel-leap check');
    log(check.stdout.split('\n').filter((l) => /criu|network lock|iptables-save/.test(l)).join('\n'));
    expect(check.exitCode, check.stdout + check.stderr).toBe(0);
    expect(check.stdout).toMatch(/criu can\s+CRIU 4\.1\.1 /);
    expect(check.stdout).toMatch(/network lock\s+iptables \(nf_tables backend\)/);
    expect(await guest.run('pgrep -a sshd-session || true')).toMatch(/sshd-session: root/);
  });

  it('upgrade returns 0 in the session, on the new kernel, with its echo stream intact, and leaves nothing behind', async () => {
    const { oldKernel, newKernel } = guest.connection;
    const leapStarted = Date.now();
    const result = await leapWithLiveSession(guest, s3, `kernel-leap upgrade --yes --kernel ${newKernel}`);
    log(`leap, from typing the command to the shell's last line: ${((Date.now() - leapStarted) / 1000).toFixed(1)} s`);
    // The report's timeline as the restored session printed it: where the downtime went.
    const lines = result.transcript.split('\n');
    const from = lines.findIndex((l) => /^downtime: /.test(l));
    const to = lines.findIndex((l, i) => i > from && /^phase\s+status/.test(l));
    if (from >= 0) log(lines.slice(from, to > from ? to : from + 20).join('\n'));
    expect(result.transcript).toMatch(/session root: \d+ \(sshd-session: root \[priv\]\)/);
    expect(result.transcript).toMatch(/ok\s+CRIU\s+CRIU 4\.1\.1: /);
    expectCarried(result, oldKernel, newKernel, 'trixie');
    // criu removed its own lock rules as the tasks resumed; kernel-leap's boot units are gone.
    expect((await guest.run('iptables-save | grep -c -i "mark 0xc114" || true')).trim()).toBe('0');
    expect((await guest.run(ARTEFACTS_GONE)).trim()).toBe('0');
  });
});
