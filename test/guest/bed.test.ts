/**
 * The test bed itself (needs root and QEMU): the guest boots the old kernel, CRIU
 * works inside, an ssh session from the host gets a logind session, and a kexec
 * brings the guest back on the new kernel, reachable again.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type BootedGuest, bootGuest } from '../helpers/guest.js';
import { NEW_KERNEL, OLD_KERNEL } from '../helpers/guest-image.js';
import { LiveSession } from '../helpers/session.js';

describe('guest test bed', () => {
  let booted: BootedGuest | undefined;
  afterAll(async () => booted?.guest.shutdown());

  it('boots the old kernel, runs CRIU, gives ssh logins a logind session, and kexecs into the new kernel', async () => {
    booted = await bootGuest(console.log);
    const { guest } = booted;
    const times = join(guest.image.dir, 'manifest.json');
    console.log(`[bed] accel=${guest.accel} boot-to-ssh=${(booted.bootToSshMs / 1000).toFixed(1)} s image build: ${existsSync(times) ? readFileSync(times, 'utf8').trim() : 'cached'}`);

    expect((await guest.run('uname -r')).trim()).toBe(OLD_KERNEL);
    expect(await guest.run('criu check')).toContain('Looks good.');

    const session = new LiveSession(guest, 'echo "tty=$(tty)"; ls /run/systemd/sessions/; loginctl list-sessions --no-legend; sleep 600');
    await session.waitFor(/\.ref$/, 30_000);
    expect(session.text()).toMatch(/tty=\/dev\/pts\/\d+/);
    const fifos = await guest.run('for f in /run/systemd/sessions/*.ref; do [ -p "$f" ] && echo "$f"; done');
    expect(fifos.trim().split('\n').length).toBeGreaterThanOrEqual(1);
    session.close();

    await guest.run(`kexec -l -i /boot/vmlinuz-${NEW_KERNEL} --initrd=/boot/initrd.img-${NEW_KERNEL} --reuse-cmdline && cat /sys/kernel/kexec_loaded`);
    // Detached: ssh must not wait on a command that never returns (FIELD-NOTES: a kexec -e under sshd froze the client).
    await guest.run('systemd-run --no-block --quiet kexec -e');
    const started = Date.now();
    await new Promise((r) => setTimeout(r, 5000));
    await guest.waitForSsh(240_000);
    console.log(`[bed] kexec to ssh: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    expect((await guest.run('uname -r')).trim()).toBe(NEW_KERNEL);
  });
});
