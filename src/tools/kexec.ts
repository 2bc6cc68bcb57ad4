/** kexec-tools adapter: resolve the target kernel, load it, unload it, execute it. */
import { existsSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';

import { ExitCode, LeapError } from '../errors.js';
import { compareKernelVersions, type InstalledKernel } from './facts.js';
import type { Runner } from './runner.js';

export interface KernelTarget {
  version: string;
  vmlinuz: string;
  initrd: string;
}

export interface LoadOptions {
  target: KernelTarget;
  /** The whole command line, leapCommandLine()'s. */
  cmdline: string;
  /** false passes -i: purgatory skips its SHA-256 check, which is slow under emulation. */
  verifyChecksums: boolean;
}

/** `spec` is a version, a vmlinuz path, or undefined for the newest kernel newer than the running one. */
export function resolveKernel(
  spec: string | undefined,
  running: string,
  kernels: readonly InstalledKernel[],
  initrdOverride?: string,
): KernelTarget {
  const kernel = spec === undefined ? newestNewer(running, kernels) : findKernel(spec, kernels);
  const initrd = initrdOverride ?? kernel.initrd;
  if (!initrd || !existsSync(initrd)) {
    throw new LeapError('KERNEL_NO_INITRD', `no initrd for kernel ${kernel.version}`, {
      hint: `run update-initramfs -c -k ${kernel.version}, or set [kexec] initrd`,
      exit: ExitCode.noGo,
    });
  }
  return { version: kernel.version, vmlinuz: kernel.vmlinuz, initrd };
}

/** The default never goes back: an older kernel is a leap only when --kernel names it. */
function newestNewer(running: string, kernels: readonly InstalledKernel[]): InstalledKernel {
  const newer = kernels
    .filter((k) => compareKernelVersions(k.version, running) > 0)
    .sort((a, b) => compareKernelVersions(a.version, b.version));
  const newest = newer.at(-1);
  if (!newest) {
    const others = kernels.filter((k) => k.version !== running).map((k) => k.version);
    throw new LeapError(
      'KERNEL_NONE_NEWER',
      `no kernel newer than the running ${running} is installed in /boot: nothing to leap to`,
      {
        hint: others.length
          ? `to leap to an older one, name it: --kernel ${others.at(-1)} (installed: ${others.join(', ')})`
          : 'install the new kernel first (apt-get install linux-image-...)',
        exit: ExitCode.noGo,
      },
    );
  }
  return newest;
}

function findKernel(spec: string, kernels: readonly InstalledKernel[]): InstalledKernel {
  if (spec.startsWith('/')) {
    if (!existsSync(spec))
      throw new LeapError('KERNEL_NOT_FOUND', `kernel image ${spec} does not exist`, {
        hint: 'pass an existing vmlinuz path or a version from /boot',
      });
    const version = basename(spec).replace(/^vmlinuz-/, '');
    return kernels.find((k) => k.vmlinuz === spec) ?? { version, vmlinuz: spec, initrd: undefined };
  }
  const found = kernels.find((k) => k.version === spec);
  if (!found) {
    throw new LeapError('KERNEL_NOT_FOUND', `kernel ${spec} is not installed in /boot`, {
      hint: `installed: ${kernels.map((k) => k.version).join(', ') || 'none'}`,
    });
  }
  return found;
}

export function kexecLoadArgs(options: LoadOptions): string[] {
  return [
    '-l',
    options.target.vmlinuz,
    `--initrd=${options.target.initrd}`,
    `--command-line=${options.cmdline}`,
    ...(options.verifyChecksums ? [] : ['-i']),
  ];
}

/** The parameter a leap adds to the new kernel's command line: only the boot its kexec starts has it. */
export const LEAP_PARAMETER = 'kernel_leap.run';
const LEAP_PARAMETERS = /(^|\s)kernel_leap\.run=\S*/g;

/**
 * Seconds a panicking target waits before it reboots. A Debian cloud kernel
 * otherwise hangs on a panic, and the machine with it: a reboot brings back the
 * boot loader's kernel, where the pending runs' images still are.
 */
export const PANIC_REBOOT_S = 10;

/**
 * `base` (the configured line, or /proc/cmdline) with this run's parameter. As
 * kexec's --reuse-cmdline does, BOOT_IMAGE goes (it named the old kernel); so does
 * an earlier leap's parameter, so the line does not grow with each leap. A line
 * with no `panic=` gets one; a line that sets it (even to 0) is left as it is.
 */
export function leapCommandLine(base: string, runId: string): string {
  const kept = base
    .replace(LEAP_PARAMETERS, '')
    .replace(/(^|\s)BOOT_IMAGE=\S*/g, '')
    .trim();
  const panic = /(^|\s)panic=/.test(kept) ? '' : ` panic=${PANIC_REBOOT_S}`;
  return `${kept}${panic} ${LEAP_PARAMETER}=${runId}`.trim();
}

/** The run whose kexec started this boot, from its command line; undefined after any other boot. */
export function leapOfBoot(cmdline: string): string | undefined {
  return [...cmdline.matchAll(LEAP_PARAMETERS)]
    .at(-1)?.[0]
    .trim()
    .slice(LEAP_PARAMETER.length + 1);
}

export async function loadKernel(runner: Runner, options: LoadOptions): Promise<void> {
  await runner.run({ file: 'kexec', args: kexecLoadArgs(options), timeoutMs: 120_000 });
}

export async function unloadKernel(runner: Runner): Promise<void> {
  await runner.run({ file: 'kexec', args: ['-u'], timeoutMs: 30_000 });
}

/** path: /sys/kernel/kexec_loaded, absent on a kernel built without kexec (nothing is loaded then). */
export function kernelLoaded(path: string): boolean {
  try {
    return readFileSync(path, 'utf8').trim() === '1';
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

/** `kexec -e` jumps at once and never returns; `systemctl kexec` queues a clean shutdown that ends in the jump. */
export async function execKernel(runner: Runner, mode: 'kexec' | 'systemctl'): Promise<void> {
  if (mode === 'systemctl')
    await runner.run({ file: 'systemctl', args: ['kexec'], timeoutMs: 120_000 });
  else await runner.run({ file: 'kexec', args: ['-e'], timeoutMs: 60_000 });
}
