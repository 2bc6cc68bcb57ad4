/**
 * The last decision of `kernel-leap auto`, for `kernel-leap status`:
 * `<state>/auto.json`, replaced at each decision and once more with the leap's end.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { jsonText } from '../tools/printable.js';
import { writeFileAtomic } from './atomic.js';

export interface AutoRecord {
  at: string;
  /** nothing, wait, leap (started), no-go, failed. */
  action: 'nothing' | 'wait' | 'leap' | 'no-go' | 'failed';
  reason: string;
  kernel?: string;
  runs?: string[];
  /** The last leap tried that did not happen: one try per window. */
  lastNoGo?: { at: string; reason: string };
}

export function autoRecordPath(stateDir: string): string {
  return join(stateDir, 'auto.json');
}

export function writeAutoRecord(stateDir: string, record: AutoRecord): void {
  // auto may decide before any run made the state dir.
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  writeFileAtomic(autoRecordPath(stateDir), `${jsonText(record, 2)}\n`);
}

export function readAutoRecord(stateDir: string): AutoRecord | undefined {
  const file = autoRecordPath(stateDir);
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as AutoRecord;
  } catch {
    // A record cut short by a crash is no decision to show.
    return undefined;
  }
}
