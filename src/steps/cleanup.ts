/**
 * Removes every artefact installed for the boot (units, hook, rules file, FIFO
 * list), whatever the outcome. Each removal is independent: one failure does not
 * leave the rest behind.
 */
import { existsSync, rmSync } from 'node:fs';
import { basename } from 'node:path';
import type { Journal } from '../state/journal.js';
import type { Runner } from '../tools/runner.js';
import { daemonReload, disableUnits } from '../tools/systemd.js';

export interface CleanupOutput {
  removed: string[];
  failed: Array<{ path: string; error: string }>;
}

export async function removeArtefacts(runner: Runner, journal: Journal, units: readonly string[]): Promise<CleanupOutput> {
  const failed: CleanupOutput['failed'] = [];
  const removed: string[] = [];
  const unitNames = units.map((u) => basename(u));
  if (unitNames.length > 0) await disableUnits(runner, unitNames).catch((e: Error) => failed.push({ path: unitNames.join(' '), error: e.message }));
  for (const path of journal.snapshot.artefacts) {
    try {
      if (existsSync(path)) rmSync(path, { force: true });
      removed.push(path);
    } catch (error) {
      failed.push({ path, error: (error as Error).message });
    }
  }
  if (unitNames.length > 0) await daemonReload(runner).catch((e: Error) => failed.push({ path: 'systemctl daemon-reload', error: e.message }));
  journal.recordChange('cleanup', 'artefacts', `${removed.length} removed, ${failed.length} failed`);
  return { removed, failed };
}
