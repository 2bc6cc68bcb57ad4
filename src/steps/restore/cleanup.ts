/**
 * Removes everything installed for the boot: the units (disabled first, so no
 * .wants link stays), the ifupdown hook, the lock rules file, any other
 * artefact the journal names, and the GRUB one-shot to the old kernel. The fixed set is removed even when no journal can
 * be read: a unit left enabled would run again at every boot. Each removal is
 * independent, and what is already gone costs nothing.
 */
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';

import type { Journal } from '../../state/journal.js';
import { grubFiles } from '../../tools/grub.js';
import type { HostPaths } from '../../tools/host-paths.js';
import type { Runner } from '../../tools/runner.js';
import { daemonReload, disableUnits } from '../../tools/systemd.js';
import { disarmBootFallback } from '../checkpoint/fallback.js';
import { BOOT_UNITS, lockRulesPath } from '../checkpoint/prepare.js';

export interface CleanupOutput {
  removed: string[];
  failed: Array<{ path: string; error: string }>;
}

export interface CleanupInput {
  runner: Runner;
  host: HostPaths;
  stateDir: string;
  /** The run whose artefacts are removed too; none when its journal cannot be read. */
  journal: Journal | undefined;
  /**
   * False inside kernel-leap-restore.service, whose own unit file this removes: a
   * reload would load the running unit as not-found, with systemd's default 90 s
   * start timeout counted from its start, and kill the rest of the cleanup and the
   * log upload on a slow boot. Without a reload the files are gone by the next boot.
   */
  reload?: boolean;
}

/** What every prepare installs, whatever its journal says. */
function fixedArtefacts(host: HostPaths, stateDir: string): string[] {
  return [
    ...BOOT_UNITS.map((unit) => join(host.unitDir, unit)),
    host.ifupdownHook,
    lockRulesPath(stateDir),
  ];
}

export async function removeBootArtefacts(input: CleanupInput): Promise<CleanupOutput> {
  const { runner, host, journal } = input;
  const failed: CleanupOutput['failed'] = [];
  const removed: string[] = [];
  const installed = BOOT_UNITS.filter((unit) => existsSync(join(host.unitDir, unit)));
  const reload = input.reload !== false;
  if (installed.length > 0)
    await disableUnits(runner, installed, { reload }).catch((e: Error) =>
      failed.push({ path: installed.join(' '), error: e.message }),
    );
  for (const path of new Set([
    ...(journal?.snapshot.artefacts ?? []),
    ...fixedArtefacts(host, input.stateDir),
  ])) {
    if (!existsSync(path)) continue;
    try {
      rmSync(path, { force: true });
      removed.push(path);
    } catch (error) {
      failed.push({ path, error: (error as Error).message });
    }
  }
  await clearFallback(input, failed);
  if (installed.length > 0 && reload)
    await daemonReload(runner).catch((e: Error) =>
      failed.push({ path: 'systemctl daemon-reload', error: e.message }),
    );
  journal?.recordChange(
    'cleanup',
    'artefacts',
    `${removed.length} removed, ${failed.length} failed`,
  );
  return { removed, failed };
}

/** The one-shot stays set, and its record kept for the next cleanup, when grub-editenv fails. */
async function clearFallback(input: CleanupInput, failed: CleanupOutput['failed']): Promise<void> {
  try {
    const done = await disarmBootFallback(input.runner, input.host, input.stateDir);
    if (done !== undefined) input.journal?.recordChange('cleanup', 'grub next_entry', done);
  } catch (error) {
    failed.push({ path: grubFiles(input.host.boot).env, error: (error as Error).message });
  }
}
