/**
 * The guest's side of a boot through GRUB (docs/testing.md "Booting through
 * GRUB"): the image has GRUB's packages, its modules in /boot/grub and an
 * /etc/default/grub, but no grub.cfg, so every guest is a machine without GRUB
 * until a test asks for one. Then update-grub writes grub.cfg as on any Debian
 * machine, grub-reboot picks the kernel of the first GRUB boot, the guest powers
 * off, and vm-boot.ts starts QEMU again with GRUB's core image as its -kernel.
 */
import { pollUntil } from './poll.js';
import { isRunning } from './vm-qemu.js';
import { runInGuest, serialTail, type VmConnection } from './vm-ssh.js';

/** A kernel release as the image's manifest names it: safe in a shell word and a GRUB id. */
const RELEASE = /^[A-Za-z0-9][A-Za-z0-9.+~_-]*$/;

/**
 * Writes /boot/grub/grub.cfg with update-grub and makes the next boot, once,
 * the normal entry of `kernel` (grub-mkconfig's default is the newest kernel).
 * Returns how long update-grub took in the guest, in ms.
 */
export async function writeGrubConfig(c: VmConnection, kernel: string): Promise<number> {
  if (!RELEASE.test(kernel)) throw new Error(`not a kernel release: ${JSON.stringify(kernel)}`);
  const out = await runInGuest(
    c,
    `set -e
started=$(date +%s%N)
update-grub >/dev/null 2>&1 || { update-grub; exit 1; }
echo "update-grub-ms $(( ($(date +%s%N) - started) / 1000000 ))"
uuid=$(grub-probe --target=fs_uuid /)
entry="gnulinux-${kernel}-advanced-$uuid"
grep -q "menuentry_id_option '$entry'" /boot/grub/grub.cfg || { echo "no entry $entry in grub.cfg" >&2; exit 1; }
grub-reboot "gnulinux-advanced-$uuid>$entry"`,
    { timeoutMs: 300_000 },
  );
  const ms = /^update-grub-ms (\d+)$/m.exec(out)?.[1];
  if (ms === undefined) throw new Error(`update-grub printed no time: ${out}`);
  return Number(ms);
}

/** A clean shutdown (the disk synced and unmounted), waiting for QEMU to end with it. */
export async function powerOff(c: VmConnection): Promise<void> {
  await runInGuest(c, 'systemctl --no-block poweroff');
  await pollUntil(() => (isRunning(c.pid) ? undefined : true), {
    timeoutMs: 180_000,
    intervalMs: 500,
    what: `the guest to power off (qemu ${c.pid})`,
    detail: () => serialTail(c),
  });
}

/** Throws unless the running kernel is `kernel` and GRUB booted it (its `linux` line sets BOOT_IMAGE=). */
export async function expectGrubBooted(c: VmConnection, kernel: string): Promise<void> {
  const [release = '', cmdline = ''] = (await runInGuest(c, 'uname -r; cat /proc/cmdline')).split(
    '\n',
  );
  if (release !== kernel || !cmdline.startsWith(`BOOT_IMAGE=/boot/vmlinuz-${kernel} `))
    throw new Error(
      `the guest did not boot ${kernel} through GRUB: it runs ${release}, command line ${cmdline}\n${serialTail(c)}`,
    );
}
