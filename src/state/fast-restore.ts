/**
 * The record a run's restore-fast.sh leaves in its run dir at boot (templates/
 * restore-fast.sh.hbs): the marks it took, how far it got, and criu's launcher.
 * Node's restore, which starts seconds later, carries on from it. One `key=value`
 * a line; only a record of this boot counts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const FAST_RESTORE_FILE = 'fast-restore';
export const FAST_RESTORE_SCRIPT = 'restore-fast.sh';

export interface FastRestore {
  /** Marks by name (restoreUnitStart, gate.*, restoreStart, restored), as taken in the script. */
  marks: Map<string, Date>;
  /** Why it stopped before criu's launch (a gate's mark name when that gate timed out). */
  gaveUp: string | undefined;
  /** How criu's launch ended: the tasks resumed, criu ended first, or neither in time. */
  outcome: 'restored' | 'ended' | 'timeout' | undefined;
  launcher: number | undefined;
  /** Socket directories it made again. */
  socketDirs: string[];
}

export function readFastRestore(runDir: string, bootId: string): FastRestore | undefined {
  const path = join(runDir, FAST_RESTORE_FILE);
  if (!existsSync(path)) return undefined;
  const lines = readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)] as const);
  const one = (key: string) => lines.find(([k]) => k === key)?.[1];
  if (one('boot') !== bootId) return undefined;
  const outcome = one('outcome');
  return {
    marks: new Map(
      lines
        .filter(([k]) => k.startsWith('mark.'))
        .map(([k, v]) => [k.slice('mark.'.length), new Date(Number(v))]),
    ),
    gaveUp: one('gaveUp'),
    outcome:
      outcome === 'restored' || outcome === 'ended' || outcome === 'timeout' ? outcome : undefined,
    launcher: one('launcher') === undefined ? undefined : Number(one('launcher')),
    socketDirs: lines.filter(([k]) => k === 'socketDir').map(([, v]) => v),
  };
}
