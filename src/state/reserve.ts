/**
 * A little disk space each run holds for its own records. When the disk fills
 * during the dump (the images are the big writer), the worker must still journal
 * what it did to the session and write the outcome the launcher waits for: every
 * failure path frees this first, then writes.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const RESERVE_FILE = 'reserve';
// Far more than a journal, an outcome and the failure's log lines take.
const RESERVE_BYTES = 1024 * 1024;

/** Written, not sparse: the blocks are taken now. */
export function holdReserve(runDir: string): void {
  writeFileSync(join(runDir, RESERVE_FILE), Buffer.alloc(RESERVE_BYTES), { mode: 0o600 });
}

export function releaseReserve(runDir: string): void {
  rmSync(join(runDir, RESERVE_FILE), { force: true });
}
