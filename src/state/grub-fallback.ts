/**
 * The GRUB one-shot a leap set, machine-wide as GRUB's next_entry is:
 * `<state>/grub-next-entry.json` names the entry it set and the one-shot that was
 * there before it, which the cleanup after the boot's restore puts back. It is
 * written before next_entry is, so no crash leaves our entry set without it.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

import * as z from 'zod/mini';

import { LeapError } from '../errors.js';
import { fsyncDir, writeFileAtomic } from './atomic.js';
import { parseJsonWith } from './json-schema.js';

const recordSchema = z.strictObject({
  /** The entry set, `SUBMENU_ID>ENTRY_ID`: the running kernel's when the leap jumped. */
  entry: z.string(),
  /** That kernel's release. */
  version: z.string(),
  /** The one-shot that was set before the leap's (someone's grub-reboot), to put back. */
  earlier: z.optional(z.string()),
});

export type GrubFallbackRecord = z.output<typeof recordSchema>;

function recordPath(stateDir: string): string {
  return join(stateDir, 'grub-next-entry.json');
}

export function writeGrubFallback(stateDir: string, record: GrubFallbackRecord): void {
  writeFileAtomic(recordPath(stateDir), `${JSON.stringify(record)}\n`);
}

export function readGrubFallback(stateDir: string): GrubFallbackRecord | undefined {
  const path = recordPath(stateDir);
  if (!existsSync(path)) return undefined;
  return parseJsonWith(
    readFileSync(path, 'utf8'),
    recordSchema,
    (why, cause) =>
      new LeapError('GRUB_RECORD_INVALID', `${path} ${why}`, {
        hint: 'look at `grub-editenv /boot/grub/grubenv list`: unset next_entry there if it names the kernel kernel-leap leapt from, then remove the file',
        cause,
      }),
  );
}

export function removeGrubFallback(stateDir: string): void {
  rmSync(recordPath(stateDir), { force: true });
  if (existsSync(stateDir)) fsyncDir(stateDir);
}
