/**
 * Proves the test bed (needs root to build the image, and QEMU): the guest boots
 * the old kernel, CRIU works inside, an ssh login from the host gets a logind
 * session with its .ref FIFO (FIELD-NOTES.md §6), and a detached kexec brings
 * the guest back on the new kernel, reachable over ssh again. One guest for all
 * of it: under TCG a boot is the expensive part.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootGuest, type Vm } from '../helpers/vm-boot.js';

const log = (line: string) => console.log(`[bed] ${line}`);

describe('the guest test bed', () => {
  let vm: Vm;
  beforeAll(async () => {
    vm = await bootGuest({ log });
  });
  afterAll(async () => vm?.stop());

  it('boots the old kernel', async () => {
    expect((await vm.run('uname -r')).trim()).toBe(vm.connection.oldKernel);
  });

  it('passes criu check', async () => {
    const r = await vm.exec('criu check');
    expect(r.stdout + r.stderr).toContain('Looks good.');
    expect(r.exitCode).toBe(0);
  });

  it('gives an ssh login from the host a logind session held open by a FIFO', async () => {
    const session = vm.openSession('echo "SESSION id=$XDG_SESSION_ID tty=$(tty)"; exec sleep 600');
    try {
      const line = await session.waitForLine(/^SESSION id=\S+ tty=\/dev\/pts\/\d+$/, 60_000);
      const id = /id=(\S+)/.exec(line.text)?.[1];
      const ref = `/run/systemd/sessions/${id}.ref`;
      expect(await vm.run(`test -p ${ref} && echo fifo`)).toBe('fifo\n');
      // The session's sshd holds the FIFO: the fd that CRIU must treat as external.
      expect(await vm.run(`ps -o comm= -p "$(lsof -t ${ref} | paste -sd,)"`)).toMatch(/^sshd$/m);
      expect(await vm.run('loginctl list-sessions --no-legend')).toMatch(new RegExp(`^\\s*${id}\\s+0\\s+root\\b`, 'm'));
      const props = await vm.run(`loginctl show-session ${id} -p Service -p Remote -p State`);
      for (const prop of ['Service=sshd', 'Remote=yes', 'State=active']) expect(props).toContain(prop);
    } finally {
      await session.close();
    }
  });

  it('kexecs into the new kernel and answers ssh again', async () => {
    const { newKernel } = vm.connection;
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
