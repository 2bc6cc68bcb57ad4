/**
 * Proves the test bed (needs root to build the image, and QEMU): the guest boots
 * the old kernel, CRIU works inside, an ssh login from the host gets a logind
 * session with its .ref FIFO (FIELD-NOTES.md §6), and a detached kexec brings
 * the guest back on the new kernel, reachable over ssh again.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { bootGuest, type Vm } from '../helpers/vm-boot.js';
import { connectGuest } from '../helpers/vm-client.js';

const log = (line: string) => console.log(`[bed] ${line}`);

describe('the shared guest', () => {
  const guest = connectGuest(inject('guest'));

  it('runs the old kernel', async () => {
    expect((await guest.run('uname -r')).trim()).toBe(guest.connection.oldKernel);
  });

  it('passes criu check', async () => {
    const r = await guest.exec('criu check');
    expect(r, r.stderr).toMatchObject({ exitCode: 0 });
    expect(r.stdout + r.stderr).toContain('Looks good.');
  });

  it('gives an ssh login from the host a logind session held open by a FIFO', async () => {
    const session = guest.openSession('echo "SESSION id=$XDG_SESSION_ID tty=$(tty)"; exec sleep 600');
    try {
      const line = await session.waitForLine(/^SESSION id=\S+ tty=\/dev\/pts\/\d+$/, 60_000);
      const [, id, pts] = /id=(\S+) tty=\/dev\/(\S+)/.exec(line.text) ?? [];
      const ref = `/run/systemd/sessions/${id}.ref`;
      expect(await guest.run(`test -p ${ref} && echo fifo`)).toBe('fifo\n');
      // The session's sshd holds the FIFO: the fd CRIU must treat as external.
      expect(await guest.run(`ps -o comm= -p "$(lsof -t ${ref} | paste -sd,)"`)).toMatch(/^sshd$/m);
      expect(await guest.run('loginctl list-sessions --no-legend')).toMatch(new RegExp(`^\\s*${id}\\s+0\\s+root\\s.*${pts}\\s*$`, 'm'));
    } finally {
      await session.close();
    }
  });
});

describe('a guest of its own', () => {
  let own: Promise<Vm>;
  // Boots while the shared guest's tests run; awaited by the test that needs it.
  beforeAll(() => {
    own = bootGuest({ log });
    own.catch(() => undefined);
  });
  afterAll(async () => (await own.catch(() => undefined))?.stop());

  it('kexecs into the new kernel and answers ssh again', async () => {
    const vm = await own;
    const { oldKernel, newKernel } = vm.connection;
    log(`boot to ssh: ${(vm.bootToSshMs / 1000).toFixed(1)} s (${vm.connection.accel})`);
    expect((await vm.run('uname -r')).trim()).toBe(oldKernel);
    const before = await vm.bootId();

    // -i skips purgatory's SHA-256 of kernel and initrd: 8-23 s instead of 54 s under TCG (FIELD-NOTES.md).
    await vm.run(`kexec -l -i /boot/vmlinuz-${newKernel} --initrd=/boot/initrd.img-${newKernel} --reuse-cmdline`);
    expect((await vm.run('cat /sys/kernel/kexec_loaded')).trim()).toBe('1');
    // Detached in a unit of its own: a kexec -e under this ssh would freeze the client (FIELD-NOTES.md).
    await vm.run('sync && systemd-run --no-block --quiet kexec -e');
    const { ms } = await vm.waitForNewBoot(before, 300_000);
    log(`kexec -e to ssh on the new kernel: ${(ms / 1000).toFixed(1)} s`);

    expect((await vm.run('uname -r')).trim()).toBe(newKernel);
    expect(await vm.run('ip -4 -o addr show eth0')).toContain('10.0.2.15/');
  });
});
