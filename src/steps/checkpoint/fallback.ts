/**
 * The boot fallback. A target that panics reboots (the leap adds panic=,
 * tools/kexec.ts), but a cold boot starts the boot loader's default, most often
 * the new kernel again. Where the machine boots through GRUB, the leap makes the
 * next cold boot the running kernel, once, as `grub-reboot` does: set after the
 * dump, cleared by the cleanup after the boot's restore, so the default is left as
 * the distribution set it. A fallback boot has used it up already (GRUB clears it
 * as it boots it), and restores the pending runs on the old kernel.
 */
import { existsSync } from 'node:fs';

import { isLeapError } from '../../errors.js';
import {
  type GrubFallbackRecord,
  readGrubFallback,
  removeGrubFallback,
  writeGrubFallback,
} from '../../state/grub-fallback.js';
import type { StepJournal } from '../../state/journal.js';
import { runningKernel } from '../../tools/facts.js';
import {
  grubFiles,
  kernelEntry,
  probeGrubEditenv,
  readNextEntry,
  setNextEntry,
  unsetNextEntry,
} from '../../tools/grub.js';
import type { HostPaths } from '../../tools/host-paths.js';
import type { Runner } from '../../tools/runner.js';

/** What brings the machine back when the target fails to boot. */
export type BootFallback =
  { kind: 'grub-once'; version: string; entry: string } | { kind: 'none'; why: string };

/** Detected, never assumed: grub.cfg, grub-editenv that runs, and an entry for the running kernel. */
export async function bootFallback(
  runner: Runner,
  host: Pick<HostPaths, 'boot' | 'procSys'>,
): Promise<BootFallback> {
  const { cfg } = grubFiles(host.boot);
  if (!existsSync(cfg))
    return { kind: 'none', why: `the machine does not boot through GRUB (no ${cfg})` };
  try {
    await probeGrubEditenv(runner);
  } catch (error) {
    if (!isLeapError(error)) throw error;
    return {
      kind: 'none',
      why:
        error.code === 'TOOL_MISSING'
          ? 'grub-editenv is not installed (apt-get install grub-common)'
          : `grub-editenv does not run: ${error.message}`,
    };
  }
  const version = runningKernel(host.procSys);
  const found = kernelEntry(cfg, version);
  return 'none' in found
    ? { kind: 'none', why: found.none }
    : { kind: 'grub-once', version, entry: found.entry };
}

/** One line for the plan. */
export function describeFallback(fallback: BootFallback): string {
  return fallback.kind === 'grub-once'
    ? `GRUB one-shot to ${fallback.version} (next_entry=${fallback.entry}, until the new kernel has booted and restored)`
    : `none: ${fallback.why}; a target that fails to boot relies on panic= and the firmware's default boot`;
}

export interface ArmInput {
  runner: Runner;
  host: Pick<HostPaths, 'boot' | 'procSys'>;
  stateDir: string;
  /** The runs the next boot restores: each journals the change. */
  journals: ReadonlyArray<Pick<StepJournal, 'recordChange'>>;
}

/**
 * After the dump: the next cold boot is the running kernel, once. The record goes
 * first, with the one-shot that was set before (someone's grub-reboot, put back
 * after the restore); one of an earlier leap still pending keeps what it recorded.
 */
export async function armBootFallback(input: ArmInput): Promise<BootFallback> {
  const { runner, host, stateDir } = input;
  const fallback = await bootFallback(runner, host);
  if (fallback.kind === 'none') {
    for (const journal of input.journals)
      journal.recordChange('boot-fallback', 'none', fallback.why);
    return fallback;
  }
  const { env } = grubFiles(host.boot);
  const current = await readNextEntry(runner, env);
  const earlier =
    current !== undefined && current !== fallback.entry
      ? current
      : readGrubFallback(stateDir)?.earlier;
  const record: GrubFallbackRecord = {
    entry: fallback.entry,
    version: fallback.version,
    ...(earlier === undefined ? {} : { earlier }),
  };
  writeGrubFallback(stateDir, record);
  await setNextEntry(runner, env, fallback.entry);
  for (const journal of input.journals)
    journal.recordChange(
      'grub next_entry',
      env,
      `${fallback.entry}: the next cold boot is ${fallback.version}, once${earlier === undefined ? '' : `; the earlier one-shot ${earlier} is put back after the restore`}`,
    );
  return fallback;
}

/**
 * After the boot's restore: the leap's one-shot goes, and the one before it comes
 * back. One set since by someone else is theirs, and stays. What was done, or
 * undefined when no leap set one.
 */
export async function disarmBootFallback(
  runner: Runner,
  host: Pick<HostPaths, 'boot'>,
  stateDir: string,
): Promise<string | undefined> {
  const record = readGrubFallback(stateDir);
  if (record === undefined) return undefined;
  const { env } = grubFiles(host.boot);
  const current = await readNextEntry(runner, env);
  let done: string;
  if (current !== undefined && current !== record.entry)
    done = `next_entry ${current} kept: set by someone else since the leap`;
  else if (record.earlier !== undefined) {
    await setNextEntry(runner, env, record.earlier);
    done = `next_entry ${record.earlier} put back`;
  } else if (current !== undefined) {
    await unsetNextEntry(runner, env);
    done = `next_entry ${current} unset`;
  } else done = `next_entry ${record.entry} was used by GRUB already: nothing to clear`;
  removeGrubFallback(stateDir);
  return done;
}
