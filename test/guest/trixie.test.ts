/**
 * The Debian 13 bed end to end (needs root and QEMU; one guest boot, two leaps):
 * kernel 6.12.107 to 6.12.117 and back, CRIU 4.1.1, OpenSSH 10.0 (`sshd-session:`
 * processes), systemd 257, iptables on nf_tables. The first leap runs on the bed's
 * own stack, systemd-networkd; then the guest hands eth0 to NetworkManager (enabled,
 * networkd disabled, no boot) and the second leap's boot is NetworkManager's alone.
 * The guest runs the shipped defaults (only the [s3] section is set). Each time a
 * live ssh session from the host with a ticker and an echo connection types
 * `kernel-leap upgrade`; it comes back on the other kernel, what the host types
 * reaches the restored shell, the report's downtime matches the gap the host saw,
 * the lock rules were in before the stack started and held until criu's restore,
 * no lock rule or boot artefact is left, and the logs are in S3. Both leaps are
 * `--all-ssh`, with a session of the non-root user alice (privilege separation:
 * `sshd-session: alice [priv]`) open from before the first: her session is carried
 * twice, so the second leap is also one of a restored session, and after each she
 * types a line her restored shell reads. The bookworm bed's tests cover the rest
 * (ifupdown, restore edge cases, a failing dump under --all-ssh).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { type LeapResult, leapWithLiveSession } from '../helpers/demo-run.js';
import { expectCarried } from '../helpers/expect-leap.js';
import { ARTEFACTS_GONE, prepareGuest } from '../helpers/leap.js';
import {
  expectRulesHeldAcross,
  type GuestStack,
  switchToNetworkManager,
} from '../helpers/network-stack.js';
import { LocalS3 } from '../helpers/s3rver.js';
import { bootGuest, type Vm } from '../helpers/vm-boot.js';
import { type VmSession, wholeLine } from '../helpers/vm-session.js';

const log = (line: string) => console.log(`[trixie] ${line}`);

describe('Debian 13 (trixie): one command carries a live ssh session across a kernel upgrade', () => {
  const started = Date.now();
  let guest: Vm;
  let s3: LocalS3;
  let alice: VmSession | undefined;

  beforeAll(async () => {
    s3 = await LocalS3.start();
    guest = await bootGuest({ dist: 'trixie', log });
    await prepareGuest(guest, s3);
  });
  afterAll(async () => {
    await alice?.close();
    await guest?.stop();
    await s3?.stop();
    log(
      `whole file: ${((Date.now() - started) / 1000).toFixed(1)} s (boot to sshd ${((guest?.bootToSshMs ?? 0) / 1000).toFixed(1)} s)`,
    );
  });

  /** One leap typed in a live session, to `to`, on the stack that brings eth0 up; what it must show. */
  async function leapOn(stack: GuestStack, from: string, to: string): Promise<LeapResult> {
    const leapStarted = Date.now();
    const result = await leapWithLiveSession(
      guest,
      s3,
      `kernel-leap upgrade --yes --all-ssh --kernel ${to}`,
    );
    log(
      `${stack} leap, from typing the command to the shell's last line: ${((Date.now() - leapStarted) / 1000).toFixed(1)} s`,
    );
    // The report's timeline as the restored session printed it: where the downtime went.
    const lines = result.transcript.split('\n');
    const first = lines.findIndex((l) => /^downtime: /.test(l));
    const last = lines.findIndex((l, i) => i > first && /^phase\s+status/.test(l));
    if (first >= 0) log(lines.slice(first, last > first ? last : first + 20).join('\n'));
    expect(result.transcript).toMatch(/session root: \d+ \(sshd-session: root \[priv\]\)/);
    expect(result.transcript).toMatch(/ok\s+CRIU\s+CRIU 4\.1\.1: /);
    expect(result.transcript).toMatch(/gate\.addresses/);
    expectCarried(result, from, to, 'trixie');
    const order = await expectRulesHeldAcross(guest, stack);
    log(
      `${stack}: lock rules in at ${order.rulesAt} s, ${stack} started at ${order.stackAt} s after the kernel's start`,
    );
    expect((await guest.run(ARTEFACTS_GONE)).trim()).toBe('0');
    await expectAliceCarried(stack, to);
    return result;
  }

  /** alice's session, carried by the same --all-ssh leap: ticking on the new kernel, and her shell reads what she types. */
  async function expectAliceCarried(stack: GuestStack, to: string): Promise<void> {
    if (!alice?.running) throw new Error("alice's session ended");
    await alice.waitForLine(wholeLine(`tickA ${to}`), 60_000);
    alice.write(`typed for alice on ${stack}\n`);
    await alice.waitForLine(wholeLine(`ALICE-READ:typed for alice on ${stack}`), 60_000);
    // Her shell holds a file of hers read-write, which criu opened again as root once the restore
    // script had found it the dump's (docs/trust.md): her bash and sleeps hold that file still.
    const { user } = guest.connection;
    const held = await guest.run(
      `for p in $(pgrep -u ${user} -x 'bash|sleep'); do stat -L -c %d:%i /proc/$p/fd/7; done | sort -u`,
    );
    expect(held.trim()).toBe((await guest.run(`stat -c %d:%i ~${user}/kl-notes`)).trim());
    log(
      `alice's session on ${stack}: longest pause ${(alice.longestGap(/^tickA /).ms / 1000).toFixed(1)} s so far`,
    );
  }

  it('check finds CRIU 4.1.1 and states what it can do, and systemd-networkd bringing up eth0; the session is an sshd-session one', async () => {
    const check = await guest.exec('kernel-leap check');
    log(
      check.stdout
        .split('\n')
        .filter((l) => /criu|network|iptables-save/.test(l))
        .join('\n'),
    );
    expect(check.exitCode, check.stdout + check.stderr).toBe(0);
    expect(check.stdout).toMatch(/criu can\s+CRIU 4\.1\.1 /);
    expect(check.stdout).toMatch(/network lock\s+iptables \(nf_tables backend\)/);
    expect(check.stdout).toMatch(/ok\s+network stack\s+systemd-networkd brings up eth0: /);
    expect(check.stdout).not.toMatch(/network stack\s+(NetworkManager|ifupdown)/);
    expect(await guest.run('pgrep -a sshd-session || true')).toMatch(/sshd-session: root/);
  });

  it('on systemd-networkd, upgrade --all-ssh returns 0 in the session, on the new kernel, with its echo stream intact, carries alice too, and leaves nothing behind', async () => {
    const { oldKernel, newKernel, user } = guest.connection;
    alice = guest.openSession(
      'exec 7<> "$HOME/kl-notes"; (while :; do echo "tickA $(uname -r)"; sleep 0.5; done) & while read -r line; do echo "ALICE-READ:$line"; done',
      user,
    );
    await alice.waitForLine(wholeLine(`tickA ${oldKernel}`), 60_000);
    expect(await guest.run(`pgrep -a sshd-session || true`)).toMatch(
      new RegExp(`sshd-session: ${user} \\[priv\\]`),
    );
    const result = await leapOn('systemd-networkd', oldKernel, newKernel);
    expect(result.transcript).toMatch(/ok\s+NETWORK\s+systemd-networkd brings up eth0: /);
  });

  it("on NetworkManager, the same leap back to the old kernel, alice's restored session leapt a second time, and check names NetworkManager on the boot it brought up", async () => {
    const { oldKernel, newKernel } = guest.connection;
    await switchToNetworkManager(guest);
    const result = await leapOn('NetworkManager', newKernel, oldKernel);
    expect(result.transcript).toMatch(/ok\s+NETWORK\s+NetworkManager brings up eth0: /);
    const check = await guest.exec('kernel-leap check --json');
    const stacks = JSON.parse(check.stdout.trim().split('\n').at(-1) ?? '{}').networkStacks;
    expect(stacks).toEqual([{ name: 'NetworkManager', interfaces: ['eth0'] }]);
  });
});
