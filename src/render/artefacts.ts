/** One typed render function per generated artefact. */
import { posix } from 'node:path';

import actionScript from '../../templates/criu-action.sh.hbs';
import ifPreUp from '../../templates/if-pre-up.hbs';
import restoreUnit from '../../templates/kernel-leap-restore.service.hbs';
import rulesUnit from '../../templates/kernel-leap-rules.service.hbs';
import restoreBoot from '../../templates/restore-boot.sh.hbs';
import restoreTree from '../../templates/restore-tree.sh.hbs';
import resumeTrees from '../../templates/resume-trees.sh.hbs';
import takePending from '../../templates/take-pending.sh.hbs';
import { LeapError } from '../errors.js';
import { compileTemplate } from './templates.js';

export interface RulesContext {
  /** The iptables-save file of CRIU's lock rules. */
  rulesFile: string;
  /** Absolute path of iptables-restore, of the same backend that saved the rules. */
  iptablesRestore: string;
  /** Created once the rules are loaded (under /run, so it dies with the boot). */
  marker: string;
  /**
   * The rules are for the runs this boot restores: pending ones, or, for the
   * hook (which may run after the take), those taken on this boot, whose id
   * restoringBootFile names first. A list an earlier boot left (its restore cut
   * short) is not restored again, and its connections not locked.
   */
  pendingFile: string;
  restoringBootFile: string;
  procBootId: string;
}

export interface RestoreUnitContext {
  /** The pending mark and the restoring list; the unit does nothing without either. */
  pendingFile: string;
  restoringFile: string;
  /** The unit's ExecStart: restore-boot.sh. */
  bootScript: string;
  timeoutSec: number;
  /** The rules unit's name, ordered before the restore. */
  rulesUnit: string;
  /** Where the restore script saves a setting's earlier value, and /proc/sys to put it back into. */
  savedSysctls: string;
  procSys: string;
  /** Its ExecStopPost= resumes the trees restored and left stopped, whatever became of Node. */
  resumeScript: string;
}

export interface RestoreBootContext {
  stateDir: string;
  node: string;
  bundle: string;
  /** Run first: the pending runs it takes are those restore-boot.sh restores. */
  takeScript: string;
  /** Run once every taken run was restored by its own restore-fast.sh. */
  resumeScript: string;
  /** The one window scaling is off in, around all the runs it restores side by side (as the restore script's). */
  procSys: string;
  savedSysctls: string;
}

/** The take of the pending runs at boot (templates/take-pending.sh.hbs). */
export interface TakeScriptContext {
  stateDir: string;
  pendingFile: string;
  restoringFile: string;
  /** This boot's id, then the runs it took (src/state/pending.ts). */
  restoringBootFile: string;
  procBootId: string;
}

/** The resume of the trees each restore left stopped (templates/resume-trees.sh.hbs). */
export interface ResumeScriptContext {
  stateDir: string;
  /** /proc: the trees' processes, their children and their pids in their own namespace. */
  proc: string;
  procBootId: string;
  /** The restore script's records in a run dir, Node's first: the latest of this boot says whether the tree was restored. */
  records: string[];
  /** In a run dir: the pids stopped at the dump, in the tree's own pid namespace. */
  stoppedAtDump: string;
  /** In a run dir: what the resume did, and when. */
  resumed: string;
}

/** What one run of the restore script is to do (templates/restore-tree.sh.hbs), every value computed before it runs. */
export interface RestoreScriptContext {
  runId: string;
  /** Where it writes its record (src/state/restore-record.ts). */
  record: string;
  pidFile: string;
  procBootId: string;
  rulesFile: string;
  marker: string;
  /** The addresses the gate waits for anywhere: those not put back early. */
  addresses: string[];
  /** Put back on their interface before the gate, which then waits for each there, with its index in the manifest. */
  earlyAddresses: EarlyAddressArgs[];
  addressTimeoutS: number;
  restoreTimeoutS: number;
  /** Dumped pty indexes that must be free: none once Node has remapped the taken ones. */
  ptys: number[];
  /** Each with its index in the manifest (the record names it so), its mode in octal, its owner's numeric uid and gid. */
  fifos: OwnedPath[];
  socketDirs: OwnedPath[];
  /** Files criu opens again as root, each with its index in the manifest; `-` for a number not compared. */
  reopenedFiles: Array<{ index: number; path: string; dev: number | '-'; ino: number | '-' }>;
  /** Window scaling off while criu makes the sockets (steps/restore/script.ts says why). */
  unscaled: boolean;
  procSys: string;
  savedSysctls: string;
  /** The restore's command: systemd-run --scope … criu restore. */
  argv: string[];
  /** criu's log: why it ended (a pty index that a restore beside it held, it is launched again). */
  criuLog: string;
  /** Held while it makes the FIFOs and socket directories (templates/partials/paths-lock.sh.hbs). */
  pathsLock: string;
  /** udev's database, where the script sees that udev has named an interface. */
  udevData: string;
}

/** An early address as the script's arguments: its index in the manifest, and `''` for no gateway or metric. */
export interface EarlyAddressArgs {
  index: number;
  ip: string;
  prefix: number;
  dev: string;
  gateway: string;
  metric: string;
}

export interface OwnedPath {
  index: number;
  path: string;
  mode: string;
  uid: number;
  gid: number;
}

export interface ActionScriptContext {
  pidFile: string;
  /** Held while it puts back the held files (templates/partials/paths-lock.sh.hbs). */
  pathsLock: string;
  /** `<run>/held-files`: the worker copies each held file to `<index>` there after the dump. */
  heldDir: string;
  /** Where the script notes, a line per file, what it put back or why not. */
  heldLog: string;
  /** The files to put back at pre-restore: numbers as numbers (never names), modes in octal. */
  heldFiles: Array<
    HeldFileToPutBack & { index: number; root: string; dirs: HeldFileToPutBack[]; fifo: boolean }
  >;
}

export interface HeldFileToPutBack {
  path: string;
  uid: number;
  gid: number;
  /** Octal, four digits (0644, 1777). */
  mode: string;
}

/** Compiles (and lints) on first use, not at start-up. */
function lazy<C extends object>(name: string, source: string): (context: C) => string {
  let render: ((context: C) => string) | undefined;
  return (context) => (render ??= compileTemplate<C>(name, source))(context);
}

const rules = lazy<RulesContext & { markerDir: string }>(
  'templates/kernel-leap-rules.service.hbs',
  rulesUnit,
);
const hook = lazy<RulesContext & { markerDir: string }>('templates/if-pre-up.hbs', ifPreUp);
const restore = lazy<RestoreUnitContext>('templates/kernel-leap-restore.service.hbs', restoreUnit);

// Both loaders create the marker's directory themselves: /run is empty after the kexec.
export const renderRulesUnit = (context: RulesContext): string =>
  rules({ ...context, markerDir: posix.dirname(context.marker) });
export const renderIfPreUpHook = (context: RulesContext): string =>
  hook({ ...context, markerDir: posix.dirname(context.marker) });

export function renderRestoreUnit(context: RestoreUnitContext): string {
  // TimeoutStartSec=0 would mean "no timeout", and NaN is a unit error found only at boot.
  if (!Number.isInteger(context.timeoutSec) || context.timeoutSec <= 0) {
    throw new LeapError(
      'TEMPLATE_UNSAFE_VALUE',
      `TimeoutStartSec must be a positive whole number of seconds, got ${context.timeoutSec}`,
      { hint: 'check restore.address_timeout and restore.restore_timeout in the config' },
    );
  }
  return restore(context);
}

export const renderRestoreBootScript = lazy<RestoreBootContext>(
  'templates/restore-boot.sh.hbs',
  restoreBoot,
);
export const renderRestoreScript = lazy<RestoreScriptContext>(
  'templates/restore-tree.sh.hbs',
  restoreTree,
);

export const renderTakeScript = lazy<TakeScriptContext>(
  'templates/take-pending.sh.hbs',
  takePending,
);

export const renderResumeScript = lazy<ResumeScriptContext>(
  'templates/resume-trees.sh.hbs',
  resumeTrees,
);

export const renderActionScript = lazy<ActionScriptContext>(
  'templates/criu-action.sh.hbs',
  actionScript,
);
