/**
 * Kexec: load the target kernel before the freeze (it takes seconds), and after
 * the dump only sync and jump. A load that must be undone is unloaded.
 */
import { readFileSync } from 'node:fs';

import type { Config } from '../../config/schema.js';
import { ExitCode, isLeapError, LeapError } from '../../errors.js';
import { initrdProblem, kernelImageProblem } from '../../tools/boot-image.js';
import { installedKernels, runningKernel } from '../../tools/facts.js';
import type { HostPaths } from '../../tools/host-paths.js';
import {
  execKernel,
  kernelLoaded,
  type KernelTarget,
  leapCommandLine,
  loadKernel,
  resolveKernel,
  unloadKernel,
} from '../../tools/kexec.js';
import type { Runner } from '../../tools/runner.js';

export interface KexecLoadInput {
  runner: Runner;
  config: Config['kexec'];
  /** --kernel VERSION|PATH; overrides [kexec] kernel. */
  kernel: string | undefined;
  host: Pick<HostPaths, 'boot' | 'kexecLoaded' | 'procCmdline' | 'procSys'>;
  /** Named on the new kernel's command line, so its restore knows the boot is the leap's. */
  runId: string;
  /** A --pre ran: the default target is the newest kernel newer than the running one now, unchecked until here. */
  afterPre?: boolean;
}

export interface KexecLoadOutput {
  from: string;
  to: KernelTarget;
  cmdline: string;
  why: TargetReason;
}

/** Why the target is the kernel it is, for the plan and the report. */
export type TargetReason =
  | 'named by --kernel'
  | 'named by [kexec] kernel'
  | 'newest installed'
  | 'newest installed after --pre';

export function targetReason(
  kernel: string | undefined,
  config: Pick<Config['kexec'], 'kernel'>,
  afterPre: boolean,
): TargetReason {
  if (kernel !== undefined) return 'named by --kernel';
  if (config.kernel !== undefined) return 'named by [kexec] kernel';
  return afterPre ? 'newest installed after --pre' : 'newest installed';
}

/**
 * The default target with a --pre is the kernel the --pre installs: it does not
 * exist before it runs, so it is resolved and checked only then (a named one is
 * checked before anything runs).
 */
export function resolvedAfterPre(
  kernel: string | undefined,
  config: Pick<Config['kexec'], 'kernel'>,
  pre: string | undefined,
): boolean {
  return targetReason(kernel, config, pre !== undefined) === 'newest installed after --pre';
}

/** The kernel to boot, with its initrd: checked before anything is touched, and again when it is loaded. */
export function targetKernel(
  input: Omit<KexecLoadInput, 'runner' | 'runId' | 'host'> & {
    host: Pick<HostPaths, 'boot' | 'procSys'>;
  },
): KernelTarget {
  return resolveKernel(
    input.kernel ?? input.config.kernel,
    runningKernel(input.host.procSys),
    installedKernels(input.host.boot),
    input.config.initrd,
  );
}

/** The new kernel's command line: the configured one, or this boot's; with the run's parameter. */
function targetCommandLine(
  config: Config['kexec'],
  host: Pick<HostPaths, 'procCmdline'>,
  runId: string,
): string {
  return leapCommandLine(config.cmdline ?? readFileSync(host.procCmdline, 'utf8'), runId);
}

/**
 * The target, refused before anything freezes if it could not boot: a file that
 * is not a kernel for this machine, an initrd that would not unpack, or a command
 * line without root= (the new kernel would wait for a root device forever).
 */
export async function checkedTarget(
  input: Omit<KexecLoadInput, 'runId' | 'host'> & {
    host: Pick<HostPaths, 'boot' | 'procCmdline' | 'procSys'>;
  },
): Promise<KernelTarget> {
  const target = targetKernel(input);
  const notKernel = kernelImageProblem(target.vmlinuz);
  if (notKernel)
    throw new LeapError(
      'KERNEL_NOT_BOOTABLE',
      `${target.vmlinuz} cannot be kexec'd: ${notKernel}`,
      {
        hint: 'pass --kernel with a version from /boot or the path of a vmlinuz for this machine',
        exit: ExitCode.noGo,
      },
    );
  const damaged = await initrdProblem(input.runner, target.initrd);
  if (damaged)
    throw new LeapError(
      'INITRD_DAMAGED',
      `the initrd ${target.initrd} of ${target.version} would not unpack: ${damaged}`,
      {
        hint: `rebuild it (update-initramfs -u -k ${target.version}), then run upgrade again`,
        exit: ExitCode.noGo,
      },
    );
  const cmdline = targetCommandLine(input.config, input.host, 'check');
  if (!/(^|\s)root=\S/.test(cmdline))
    throw new LeapError(
      'CMDLINE_NO_ROOT',
      `the new kernel's command line has no root=, so it would not find its root file system: ${cmdline}`,
      { hint: 'set [kexec] cmdline to a line with root= (see /proc/cmdline)', exit: ExitCode.noGo },
    );
  return target;
}

export async function loadTargetKernel(input: KexecLoadInput): Promise<KexecLoadOutput> {
  const from = runningKernel(input.host.procSys);
  const why = targetReason(input.kernel, input.config, input.afterPre === true);
  const to =
    why === 'newest installed after --pre' ? await checkedAfterPre(input) : targetKernel(input);
  const cmdline = targetCommandLine(input.config, input.host, input.runId);
  await loadKernel(input.runner, {
    target: to,
    cmdline,
    verifyChecksums: input.config.verify_checksums,
  });
  if (!kernelLoaded(input.host.kexecLoaded)) {
    throw new LeapError(
      'KEXEC_NOT_LOADED',
      `kexec -l ${to.vmlinuz} returned but /sys/kernel/kexec_loaded is 0`,
      { hint: "check `dmesg | tail` for the kernel's reason (e.g. lockdown or a signature check)" },
    );
  }
  return { from, to, cmdline, why };
}

/** No newer kernel after the --pre is a no-go that names the --pre, before anything freezes. */
async function checkedAfterPre(input: KexecLoadInput): Promise<KernelTarget> {
  try {
    return await checkedTarget(input);
  } catch (error) {
    if (!isLeapError(error) || error.code !== 'KERNEL_NONE_NEWER') throw error;
    throw new LeapError(
      'KERNEL_NONE_NEWER',
      `after --pre, still no kernel newer than the running ${runningKernel(input.host.procSys)} is installed in /boot: nothing to leap to`,
      {
        hint: 'the --pre installed no new kernel; the sessions were left running. Name one with --kernel, or run upgrade again when a new kernel is out',
        exit: ExitCode.noGo,
      },
    );
  }
}

export async function unloadTargetKernel(
  runner: Runner,
  host: Pick<HostPaths, 'kexecLoaded'>,
): Promise<void> {
  if (kernelLoaded(host.kexecLoaded)) await unloadKernel(runner);
}

/** How long a clean shutdown may take to end this process after `systemctl kexec`. */
const SHUTDOWN_GRACE_MS = 5 * 60_000;

/**
 * The caller syncs first: `kexec -e` reboots at once, page cache and all. On
 * success neither way returns: `systemctl kexec` only queues the shutdown, which
 * then stops this service, so we wait for it rather than report a failure. The
 * shutdown's SIGTERM can come before systemctl's exit has been logged: it is held
 * until then, and then ends this process as the shutdown asked.
 */
export async function jumpToKernel(
  runner: Runner,
  mode: Config['kexec']['exec_with'],
): Promise<void> {
  if (mode === 'kexec') return execKernel(runner, mode);
  let stopping = false;
  let logged = false;
  const onTerm = () => (logged ? process.exit(0) : (stopping = true));
  process.on('SIGTERM', onTerm);
  try {
    await execKernel(runner, mode);
    logged = true;
    if (stopping) process.exit(0);
    await new Promise((resolve) => setTimeout(resolve, SHUTDOWN_GRACE_MS));
  } finally {
    process.off('SIGTERM', onTerm);
  }
}
