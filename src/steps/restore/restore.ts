/**
 * Restore, run at boot by kernel-leap-restore.service or by hand: the restore
 * script (steps/restore/script.ts) opens the gates, makes the FIFOs and socket
 * directories, and starts criu as pid 1 of a fresh pid+mount namespace inside its
 * own transient scope, so the session outlives this unit; the tree stays stopped
 * until every tree is restored (steps/restore/resume.ts). Node takes up what the
 * boot's run of it did, does what only it can do before (a pty remap) and after
 * (unlock, journal), and runs it again where the boot's could not finish.
 */
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';

import { ExitCode, LeapError } from '../../errors.js';
import type { Journal } from '../../state/journal.js';
import { localAddresses, readManifest, type RestoreManifest } from '../../state/manifest.js';
import type { EarlyAddressState, RestoreRecord } from '../../state/restore-record.js';
import { criuError, criuLogErrors } from '../../tools/criu.js';
import { dropLockRules } from '../../tools/iptables.js';
import { printable } from '../../tools/printable.js';
import { childrenOf } from '../../tools/proc-tasks.js';
import { liveProc } from '../../tools/procfs.js';
import { clockOffsetMs } from '../../tools/rtc.js';
import type { Runner } from '../../tools/runner.js';
import { timedOut } from '../../tools/wait.js';
import { GATE_MARKS, type GateMark, gateTimedOut } from './gates.js';
import { applyPtyRemaps, planPtyRemaps, type PtyRemap, takenPtys } from './pty.js';
import {
  type LaunchOptions,
  RESTORED_PID_FILE,
  runRestoreScript,
  type ScriptHost,
} from './script.js';

export interface RestoreOutput {
  rootPidHost: number;
  rootPidInNs: number;
  criuPid: number;
  scope: string;
  nsenter: string;
  ptyRemaps: PtyRemap[];
  fifos: string[];
  /** Directories of bound unix sockets the boot had removed, made again. */
  socketDirs: string[];
  degraded: string[];
  rulesRemovedAfterRestore: number;
  /** This boot's clock minus the RTC (measured after the session is back). */
  clockOffsetMs: number | undefined;
}

export interface RestoreOptions extends LaunchOptions {
  /** What this boot's restore-fast.sh did for the run before Node started, if it ran. */
  boot?: RestoreRecord | undefined;
}

export async function restoreSession(
  runner: Runner,
  journal: Journal,
  host: ScriptHost,
  options: RestoreOptions,
): Promise<RestoreOutput> {
  const manifest = readManifest(journal.paths.dir);
  const script = new ScriptRuns(runner, journal, manifest, host, options);
  let record = options.boot ? script.took(options.boot) : await script.run(true);
  let ptyRemaps: PtyRemap[] = [];
  if (record.gaveUp === 'pty-taken') {
    ptyRemaps = await remapPtys(runner, journal, manifest);
    record = await script.run(false);
  }
  const pids = await againIfKilled(
    journal,
    manifest.criu.logFile,
    () => launched(manifest, journal.paths.dir, record, options.closeConnections),
    async () =>
      launched(manifest, journal.paths.dir, await script.run(false), options.closeConnections),
  );
  const rulesRemovedAfterRestore = await unlockConnections(runner, manifest);
  // With nothing left for it to remove, the connections were open from the moment the tasks resumed.
  journal.mark('unlocked', rulesRemovedAfterRestore === 0 ? pids.restoredAt : new Date());
  const offset = await clockOffsetMs();
  return {
    clockOffsetMs: offset,
    rootPidHost: pids.rootPidHost,
    rootPidInNs: pids.rootPidInNs,
    criuPid: pids.criuPid,
    scope: pids.scope,
    nsenter: `nsenter -t ${pids.rootPidHost} -p -m`,
    ptyRemaps,
    fifos: manifest.fifos.map((f) => f.path),
    socketDirs: [...script.socketDirs],
    degraded: [
      ...manifest.unixExternals
        .filter((u) => !u.rejoin)
        .map(
          (u) =>
            `${u.key} (${u.peerPath ?? 'unnamed peer'}): reconnected as a closed socket; its protocol state is lost`,
        ),
      ...(options.closeConnections
        ? manifest.connections.map(
            (c) =>
              `TCP ${c.local.ip}:${c.local.port} <-> ${c.peer.ip}:${c.peer.port}: restored shut down (the restart ended it)`,
          )
        : []),
    ],
    rulesRemovedAfterRestore,
  };
}

/**
 * The runs of the restore script for one restore, and what each left: its marks
 * go to the journal, the first of each name (a gate opened once; a run again after
 * a remap or a killed criu only adds what came after), but for the unit's start,
 * which the boot restore marks itself; the socket directories each made.
 */
class ScriptRuns {
  readonly socketDirs = new Set<string>();
  private readonly marked = new Set<string>(['restoreUnitStart']);
  private readonly earlyNoted = new Set<number>();

  constructor(
    private readonly runner: Runner,
    private readonly journal: Journal,
    private readonly manifest: RestoreManifest,
    private readonly host: ScriptHost,
    private readonly launch: LaunchOptions,
  ) {}

  async run(checkPtys: boolean): Promise<RestoreRecord> {
    const { runner, manifest, journal, host, launch } = this;
    return this.took(
      await runRestoreScript(runner, manifest, journal.paths.dir, host, { ...launch, checkPtys }),
    );
  }

  took(record: RestoreRecord): RestoreRecord {
    for (const [name, at] of record.marks)
      if (!this.marked.has(name)) {
        this.journal.mark(name, at);
        this.marked.add(name);
      }
    for (const index of record.socketDirs) {
      const dir = (this.manifest.socketDirs ?? [])[index];
      if (dir) this.socketDirs.add(dir.path);
    }
    for (const [index, state] of Object.entries(record.early))
      this.earlyAddress(Number(index), state);
    if (record.relaunched !== undefined)
      this.journal.recordChange(
        'restore-again',
        `${this.manifest.criu.logFile}.raced`,
        `criu gave up on a pty index that a restore beside it held for a moment: launched again (${record.relaunched} time${record.relaunched === 1 ? '' : 's'})`,
      );
    return record;
  }

  /** Each early address once, in the run's changes: what the report says of it. */
  private earlyAddress(index: number, state: EarlyAddressState): void {
    const address = (this.manifest.earlyAddresses ?? [])[index];
    if (!address || this.earlyNoted.has(index)) return;
    this.earlyNoted.add(index);
    const what = `${address.ip}/${address.prefix} on ${address.dev}`;
    this.journal.recordChange(
      'early-address',
      address.dev,
      {
        up: `${what}: put back at boot before the network stack`,
        there: `${what}: on its interface already`,
        taken: `${what}: on another interface at boot, not put back; the restore waited for the network stack`,
        'no-device': `${what}: ${address.dev} was not there in time; the restore waited for the network stack`,
        failed: `${what}: ip could not put it back; the restore waited for the network stack`,
      }[state],
    );
  }
}

/** Each dumped pty index that is taken now gets a free one: its images are edited to match. */
async function remapPtys(
  runner: Runner,
  journal: Journal,
  manifest: RestoreManifest,
): Promise<PtyRemap[]> {
  const ptyRemaps = planPtyRemaps(manifest.ptys, takenPtys());
  if (ptyRemaps.length === 0) return ptyRemaps;
  const changed = await applyPtyRemaps(runner, manifest.imagesDir, ptyRemaps);
  for (const r of ptyRemaps)
    journal.recordChange(
      'pty-remap',
      manifest.imagesDir,
      `pts/${r.from} -> pts/${r.to} (${changed.ttyEntries} tty-info, ${changed.fileEntries} files entries)`,
    );
  return ptyRemaps;
}

type Launched = Pick<RestoreOutput, 'rootPidHost' | 'rootPidInNs' | 'criuPid' | 'scope'> & {
  restoredAt: Date;
};

/** The tree the script's launch restored, or the error of where it stopped. */
function launched(
  manifest: RestoreManifest,
  runDir: string,
  record: RestoreRecord,
  tcpClose: boolean,
): Launched {
  const logFile = manifest.criu.logFile;
  const pidFile = join(runDir, RESTORED_PID_FILE);
  if (record.gaveUp !== undefined) throw gaveUp(manifest, record);
  if (record.outcome === 'timeout')
    throw criuError(
      'restore',
      logFile,
      timedOut(manifest.restoreTimeoutS * 1000, 'criu restore', `read ${logFile}`),
    );
  if (record.outcome !== 'restored' || record.launcher === undefined || !existsSync(pidFile))
    throw endedEarly(logFile);
  return launchedTree(
    manifest,
    pidFile,
    record.launcher,
    tcpClose,
    record.marks.get('restored') ?? new Date(),
  );
}

/** Why the script stopped before criu's launch, as the error of that step. */
function gaveUp(manifest: RestoreManifest, record: RestoreRecord): LeapError {
  const reason = record.gaveUp ?? '';
  if ((GATE_MARKS as readonly string[]).includes(reason))
    return gateTimedOut(
      reason as GateMark,
      localAddresses(manifest),
      manifest.addressTimeoutS * 1000,
    );
  if (reason === 'fifo' || reason === 'socket-dir') return pathRefused(manifest, record);
  if (reason === 'file') return fileRefused(manifest, record);
  if (reason === 'no-ip')
    return new LeapError(
      'TOOL_MISSING',
      'ip is not installed: the restore waits with it for the dumped local addresses',
      { hint: 'apt-get install iproute2', exit: ExitCode.toolMissing },
    );
  return new LeapError(
    'RESTORE_SCRIPT_GAVE_UP',
    reason === 'sysctl'
      ? 'window scaling could not be turned off for the restore (net.ipv4.tcp_window_scaling)'
      : `the restore script stopped before criu's launch: ${reason}`,
    { hint: 'read the restore script and its record in the run dir', exit: ExitCode.restoreFailed },
  );
}

const REFUSED_BECAUSE = {
  changed: 'is not what the dump left there (another kind, or another owner), and is not touched',
  unsafe:
    'is under a directory that a user other than root could change (theirs, a symlink of theirs, or open to all without the sticky bit): root makes nothing there',
  failed: 'could not be made',
} as const;

/** A FIFO or socket directory the script would not or could not make: the tree is not restored. */
function pathRefused(manifest: RestoreManifest, record: RestoreRecord): LeapError {
  const fifo = record.gaveUp === 'fifo';
  const entry = (fifo ? manifest.fifos : (manifest.socketDirs ?? []))[record.item ?? -1];
  const what = `${fifo ? 'FIFO' : 'socket directory'} ${entry ? printable(entry.path) : `#${record.item ?? '?'}`}`;
  const owner = entry ? `, of uid ${entry.uid} gid ${entry.gid}` : '';
  const as = entry && entry.uid !== 0 ? ` as its owner (uid ${entry.uid})` : '';
  const why = REFUSED_BECAUSE[record.why ?? 'failed'];
  return new LeapError('RESTORE_PATH_REFUSED', `${what}${owner} ${why}${as}`, {
    hint: `the tree is not restored and its images are kept: see what is at that path now; once it is gone, \`kernel-leap restore --run ${manifest.runId}\` restores the tree`,
    exit: ExitCode.restoreFailed,
    details: { path: entry?.path, why: record.why },
  });
}

/**
 * A file the tree holds by path that criu would have opened, as root, in place of
 * the dump's: the tree is not restored (a process of a user would hold what root
 * chose for it).
 */
function fileRefused(manifest: RestoreManifest, record: RestoreRecord): LeapError {
  const file = (manifest.reopenedFiles ?? [])[record.item ?? -1];
  const what = `the file ${file ? printable(file.path) : `#${record.item ?? '?'}`} that the tree holds`;
  const dumped =
    file?.ino === undefined
      ? ''
      : ` (${file.dev === undefined ? '' : `device ${file.dev}, `}inode ${file.ino})`;
  const why =
    record.why === 'unsafe'
      ? 'is reached through a symlink a user could have made, which criu, as root, would follow'
      : `is not the file the dump recorded there${dumped}: it was replaced, renamed or removed since`;
  return new LeapError('RESTORE_FILE_CHANGED', `${what} ${why}`, {
    hint: `the tree is not restored and its images are kept: see what is at that path now. Once the dump's file is there again (no symlink on the way), \`kernel-leap restore --run ${manifest.runId}\` restores the tree; root alone may decide that the file there now will do, by removing its entry from reopenedFiles in the run's restore.json`,
    exit: ExitCode.restoreFailed,
    details: { path: file?.path, why: record.why },
  });
}

/** The launcher became unshare; its child is criu, pid 1 of the namespace, whose child is the root. */
function launchedTree(
  manifest: RestoreManifest,
  pidFile: string,
  launcher: number,
  tcpClose: boolean,
  restoredAt: Date,
): Launched {
  const criuPid = firstChild(launcher);
  return {
    criuPid,
    // With its connection shut down, the root (sshd) may have ended already; criu, pid 1 of the namespace, holds what is left.
    rootPidHost: tcpClose ? (childrenOf(liveProc, criuPid)[0] ?? criuPid) : firstChild(criuPid),
    rootPidInNs: Number(readFileSync(pidFile, 'utf8').trim()),
    scope: `kernel-leap-session-${manifest.runId}.scope`,
    restoredAt,
  };
}

/**
 * criu gone before the tasks resumed. With no error of its own in its log it was
 * killed (the OOM killer, a kill -9): the tasks it had made died with it, as pid 1
 * of their namespace, and the images and lock rules are as they were.
 */
function endedEarly(logFile: string): LeapError {
  const log = existsSync(logFile) ? readFileSync(logFile, 'utf8') : '';
  if (criuLogErrors(log).excerpt)
    return criuError('restore', logFile, new Error('criu exited before the tasks resumed'));
  return new LeapError(
    'CRIU_RESTORE_KILLED',
    `criu restore ended before the tasks resumed, with no error in its log (killed?): ${logFile}`,
    { hint: 'see the kernel log (dmesg) for the OOM killer', exit: ExitCode.restoreFailed },
  );
}

/** A criu that was killed is started once more; its log is kept beside the new one. */
async function againIfKilled<T>(
  journal: Journal,
  logFile: string,
  first: () => T,
  again: () => Promise<T>,
): Promise<T> {
  try {
    return first();
  } catch (error) {
    if (!(error instanceof LeapError) || error.code !== 'CRIU_RESTORE_KILLED') throw error;
    if (existsSync(logFile)) renameSync(logFile, `${logFile}.killed`);
    journal.recordChange('restore-again', `${logFile}.killed`, error.message);
    return again();
  }
}

function firstChild(pid: number): number {
  const first = childrenOf(liveProc, pid)[0];
  if (first === undefined)
    throw new LeapError('RESTORE_NO_TREE', `process ${pid} has no child after the restore`, {
      hint: 'the restored tree exited at once; see restore.log',
      exit: ExitCode.restoreFailed,
    });
  return first;
}

/**
 * After a failed restore no lock rule of the run stays: the boot loaded them before
 * the network, and they would drop every packet of those 4-tuples until the next boot.
 */
export async function unlockFailedRestore(runner: Runner, journal: Journal): Promise<number> {
  return unlockConnections(runner, readManifest(journal.paths.dir));
}

/** CRIU removes its rules as the tasks resume; anything left for these connections goes now. */
async function unlockConnections(runner: Runner, manifest: RestoreManifest): Promise<number> {
  return dropLockRules(runner, manifest.connections);
}
