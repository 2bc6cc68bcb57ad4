/**
 * Starts and stops one QEMU process for a guest: a qcow2 overlay on the raw base
 * image (tests never share disk state), sshd forwarded to a loopback port, the
 * serial console and QEMU's own stderr in files in the guest's directory.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

import { execa } from 'execa';

import { pollUntil } from './poll.js';
import type { VmImage } from './vm-image.js';

export type Accel = 'kvm' | 'tcg';

/** In the guest's dir, so a later run can tell a dead guest's leftovers (sweepDeadGuests). */
export const PID_FILE = 'qemu.pid';

export interface QemuSpec {
  image: VmImage;
  accel: Accel;
  /** Disk to boot from (the overlay; the raw base for a disk-less probe is not used). */
  disk?: string;
  port?: number;
  serialLog: string;
  memoryMb?: number;
  /** QEMU's machine protocol on this unix socket (vm-qmp.ts). */
  qmpSocket?: string;
  /** Start from this saved state (vm-booted.ts) instead of booting: a file QEMU wrote by migration. */
  incoming?: string;
  /**
   * What QEMU's -kernel starts: the old kernel with its initrd and the bed's
   * command line (the default), or GRUB, which boots what the disk's grub.cfg says.
   */
  boot?: Boot;
}

export type Boot = 'kernel' | 'grub';

/**
 * The emulated CPU, for both beds: a plain x86-64 with SSE 4.2 and no AVX or
 * XSAVE. Under TCG each emulated feature costs: with `max` the guest kernel
 * saves and restores the large AVX state on every switch (the measurements are
 * in docs/test-beds.md). No cx16: Debian 12's QEMU 7.2 emulates CMPXCHG16B with
 * a %gs prefix wrongly under TCG, and the 6.12 kernel of the trixie bed uses it
 * in SLUB's per-cpu freelists (a double fault about 50 s into the boot);
 * without cx16 the kernel never issues it. KVM uses the host's CPU.
 */
const TCG_CPU = 'qemu64,+ssse3,+sse4.1,+sse4.2,+popcnt,-cx16';

/** The `-cpu` model a guest on this accelerator emulates (the bench's files name it). */
export function guestCpu(accel: Accel): string {
  return accel === 'kvm' ? 'host' : TCG_CPU;
}

/** The argv after qemu-system-x86_64; pure, so the flags can be read in one place. */
export function qemuArgs(spec: QemuSpec): string[] {
  const cpu = ['-accel', spec.accel, '-cpu', guestCpu(spec.accel)];
  const disk = spec.disk ? ['-drive', `file=${spec.disk},if=virtio,format=qcow2,cache=unsafe`] : [];
  const net = spec.port
    ? [
        '-netdev',
        `user,id=n0,hostfwd=tcp:127.0.0.1:${spec.port}-:22`,
        '-device',
        'virtio-net-pci,netdev=n0',
      ]
    : ['-nic', 'none'];
  return [
    ...cpu,
    '-smp',
    '2',
    '-m',
    String(spec.memoryMb ?? 2048),
    // -no-reboot: a guest that reboots instead of kexec'ing ends QEMU, so a wait fails fast.
    '-display',
    'none',
    '-monitor',
    'none',
    '-no-reboot',
    ...bootArgs(spec),
    ...disk,
    ...net,
    '-device',
    'virtio-rng-pci',
    '-serial',
    `file:${spec.serialLog}`,
    ...(spec.qmpSocket ? ['-qmp', `unix:${spec.qmpSocket},server=on,wait=off`] : []),
    ...(spec.incoming ? ['-incoming', `file:${spec.incoming}`] : []),
  ];
}

function bootArgs(spec: QemuSpec): string[] {
  return spec.boot === 'grub'
    ? ['-kernel', spec.image.grub]
    : ['-kernel', spec.image.kernel, '-initrd', spec.image.initrd, '-append', spec.image.cmdline];
}

/**
 * The per-guest disk: writes land in the overlay, its base stays pristine. The
 * base is the image's raw disk, or the qcow2 disk of a saved booted state.
 */
export async function createOverlay(
  dir: string,
  base: string,
  format: 'raw' | 'qcow2',
): Promise<string> {
  const overlay = join(dir, 'overlay.qcow2');
  await execa('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', format, '-b', base, overlay]);
  return overlay;
}

/** A loopback port free right now (QEMU may still lose a race for it; the boot retries). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address
          ? resolve(address.port)
          : reject(new Error('no port')),
      );
    });
  });
}

/**
 * Starts QEMU and returns its pid. Attached, it runs under `setpriv --pdeathsig
 * KILL`, so it dies even if this process is SIGKILLed; detached (vm-cli up), it
 * is a session leader of its own that outlives this process.
 */
export function startQemu(spec: QemuSpec, dir: string, detached: boolean): number {
  const stderr = openSync(join(dir, 'qemu.log'), 'a');
  const argv = detached
    ? ['qemu-system-x86_64', ...qemuArgs(spec)]
    : ['setpriv', '--pdeathsig', 'KILL', '--', 'qemu-system-x86_64', ...qemuArgs(spec)];
  const child = spawn(argv[0] as string, argv.slice(1), {
    stdio: ['ignore', 'ignore', stderr],
    detached,
  });
  closeSync(stderr);
  if (detached) child.unref();
  if (child.pid === undefined)
    throw new Error(`could not start ${argv[0]}: apt-get install qemu-system-x86 util-linux`);
  writeFileSync(join(dir, PID_FILE), `${child.pid}\n`);
  return child.pid;
}

/** True while `pid` runs (a zombie waiting to be reaped counts as gone). */
export function isRunning(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** QEMU's own complaint, if it wrote one (bad accel, port in use, missing file). */
export function qemuErrors(dir: string): string {
  const log = join(dir, 'qemu.log');
  return existsSync(log) ? readFileSync(log, 'utf8').trim() : '';
}

/** SIGTERM (QEMU exits at once, the overlay is throwaway), then SIGKILL after a grace period; SIGKILL alone is a power cut. */
export async function stopQemu(
  pid: number,
  signals: ReadonlyArray<'SIGTERM' | 'SIGKILL'> = ['SIGTERM', 'SIGKILL'],
): Promise<void> {
  for (const signal of signals) {
    if (!isRunning(pid)) return;
    try {
      process.kill(pid, signal);
    } catch {
      return;
    }
    const stopped = await pollUntil(() => (isRunning(pid) ? undefined : true), {
      timeoutMs: 5000,
      intervalMs: 100,
      what: `qemu ${pid} to exit`,
    }).catch(() => false);
    if (stopped) return;
  }
  throw new Error(`qemu ${pid} did not exit after SIGKILL`);
}

/** The synchronous form for process-exit handlers. */
export function killQemuNow(pid: number): void {
  if (isRunning(pid)) process.kill(pid, 'SIGKILL');
}
