/**
 * Restore, run at boot by kernel-leap-restore.service: consume the pending mark
 * first (so a failure can never loop), open the gates, rebuild the outside world,
 * remap ptys, and start criu as pid 1 of a fresh pid+mount namespace inside its
 * own transient scope, so the session outlives this unit.
 */
import { existsSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';

import { ExitCode, LeapError } from '../../errors.js';
import type { FastRestore } from '../../state/fast-restore.js';
import type { Journal } from '../../state/journal.js';
import { localAddresses, readManifest, type RestoreManifest } from '../../state/manifest.js';
import { criuError, criuLogErrors } from '../../tools/criu.js';
import { criuRestoreArgs } from '../../tools/criu-args.js';
import type { HostPaths } from '../../tools/host-paths.js';
import { dropLockRules } from '../../tools/iptables.js';
import { childrenOf, isAlive } from '../../tools/proc-tasks.js';
import { liveProc } from '../../tools/procfs.js';
import { clockOffsetMs } from '../../tools/rtc.js';
import type { Runner } from '../../tools/runner.js';
import { type SysctlPaths, withSysctl } from '../../tools/sysctl.js';
import { scopeArgv } from '../../tools/systemd.js';
import { timedOut, waitUntil } from '../../tools/wait.js';
import { gateTimedOut, restoreGates, waitForGate } from './gates.js';
import { applyPtyRemaps, planPtyRemaps, type PtyRemap, takenPtys } from './pty.js';
import { fdOpenerArgv, recreateFifos, recreateSocketDirs, type TerminalToOpen } from './world.js';

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

export const RESTORED_PID_FILE = 'restored-pid';

export interface RestoreOptions {
  /** The peers are gone (a power cut came before the leap's boot): restore the connections shut down. */
  closeConnections: boolean;
  /**
   * The ptys this pass's earlier restores made again, from their index at the dump
   * to their index now: a terminal this tree holds of theirs is opened there. One
   * not among them (its owner not restored, or a restore by hand) is not opened by
   * its old index, which may be someone else's terminal now.
   */
  earlierPtys: ReadonlyMap<number, number>;
  /** What this boot's restore-fast.sh did for the run before Node started, if it ran. */
  fast?: FastRestore | undefined;
}

export async function restoreSession(
  runner: Runner,
  journal: Journal,
  host: Pick<HostPaths, 'rulesMarker' | 'procSys' | 'savedSysctls'>,
  options: RestoreOptions,
): Promise<RestoreOutput> {
  const manifest = readManifest(journal.paths.dir);
  const fast = options.fast;
  for (const [name, at] of fast?.marks ?? [])
    if (name !== 'restoreUnitStart') journal.mark(name, at);
  const world = fast?.outcome
    ? { ptyRemaps: [], socketDirs: fast.socketDirs }
    : await readyTheWorld(runner, journal, manifest, host, fast?.gaveUp);

  const launch = () =>
    options.closeConnections
      ? launchCriu(runner, manifest, journal.paths.dir, options)
      : withUnscaledWindows(manifest, host, () =>
          launchCriu(runner, manifest, journal.paths.dir, options),
        );
  if (!fast?.outcome) journal.mark('restoreStart');
  const pids = await againIfKilled(
    journal,
    manifest.criu.logFile,
    fast?.outcome ? () => adoptFastLaunch(manifest, journal.paths.dir, fast) : launch,
    launch,
  );
  journal.mark('restored', pids.restoredAt);
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
    ptyRemaps: world.ptyRemaps,
    fifos: manifest.fifos.map((f) => f.path),
    socketDirs: world.socketDirs,
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
 * The gates, then what the session expects around it: its ptys free (else
 * remapped), its FIFOs and its sockets' directories. A gate the boot's fast path
 * timed out on has had its time.
 */
async function readyTheWorld(
  runner: Runner,
  journal: Journal,
  manifest: RestoreManifest,
  host: Pick<HostPaths, 'rulesMarker'>,
  gaveUp: string | undefined,
): Promise<{ ptyRemaps: PtyRemap[]; socketDirs: string[] }> {
  const timeoutMs = manifest.addressTimeoutS * 1000;
  for (const gate of restoreGates(manifest.rulesFile, host.rulesMarker, localAddresses(manifest))) {
    if (gate.mark === gaveUp) throw gateTimedOut(gate, timeoutMs);
    await waitForGate(gate, timeoutMs);
    journal.mark(gate.mark);
  }
  const ptyRemaps = planPtyRemaps(manifest.ptys, takenPtys());
  if (ptyRemaps.length > 0) {
    const changed = await applyPtyRemaps(runner, manifest.imagesDir, ptyRemaps);
    for (const r of ptyRemaps)
      journal.recordChange(
        'pty-remap',
        manifest.imagesDir,
        `pts/${r.from} -> pts/${r.to} (${changed.ttyEntries} tty-info, ${changed.fileEntries} files entries)`,
      );
  }
  await recreateFifos(runner, manifest.fifos);
  return { ptyRemaps, socketDirs: recreateSocketDirs(manifest.socketDirs ?? []) };
}

/**
 * Window scaling is off while criu restores TCP connections. CRIU 3.17 sets a
 * restored socket's window scales only when its connection had negotiated them
 * (soccr.c, TCPI_OPT_WSCALE). Otherwise the repaired socket keeps the rcv_wscale
 * the kernel picked for it (7 with default buffers) and advertises windows 128
 * times too small to a peer that never scales, such as QEMU's slirp: keystrokes
 * then trickle in by window probes, and a FIN waits behind them. With scaling off
 * while criu creates the sockets, that scale is 0; connections that did scale get
 * theirs from the image all the same. Connections opened by others in those
 * seconds only lose the option.
 */
function withUnscaledWindows<T>(
  manifest: RestoreManifest,
  sysctl: SysctlPaths,
  launch: () => Promise<T>,
): Promise<T> {
  return manifest.connections.length > 0
    ? withSysctl(sysctl, 'net.ipv4.tcp_window_scaling', '0', launch)
    : launch();
}

function restoreArgv(manifest: RestoreManifest, options: RestoreOptions): string[] {
  const tcpClose = options.closeConnections;
  // A shell job joins criu's session, which criu, pid 1 of the new namespace, must
  // lead: the restore unit's leader is out of its sight (getsid reads 0).
  const criu = [
    ...(manifest.criu.shellJob ? ['setsid'] : []),
    'criu',
    ...criuRestoreArgs({ ...manifest.criu, tcpClose }),
  ];
  // criu without -d stays pid 1 of the new namespace and reaps the tree (docs/criu-facts.md §13).
  const inNamespace = [
    'unshare',
    '--pid',
    '--fork',
    '--mount',
    '--mount-proc',
    '--propagation=private',
    ...criu,
  ];
  return scopeArgv(
    `kernel-leap-session-${manifest.runId}`,
    fdOpenerArgv(
      manifest.fifos,
      manifest.unixExternals,
      heldTerminals(manifest, options.earlierPtys),
      inNamespace,
    ),
  );
}

/** Each terminal the tree holds of another tree, where that tree's restore made it again (none: a stand-in that hangs up). */
function heldTerminals(
  manifest: RestoreManifest,
  earlierPtys: ReadonlyMap<number, number>,
): TerminalToOpen[] {
  return (manifest.terminals ?? []).map((t) => {
    const now = earlierPtys.get(t.pts);
    return {
      fd: t.fd,
      nonBlocking: t.nonBlocking,
      path: now === undefined ? undefined : `/dev/pts/${now}`,
    };
  });
}

/** criu's launch as restore-boot.sh would run it: on the leap's boot, with no earlier restore's pty to open. */
export function bootRestoreArgv(manifest: RestoreManifest): string[] {
  return restoreArgv(manifest, { closeConnections: false, earlierPtys: new Map() });
}

type Launched = Pick<RestoreOutput, 'rootPidHost' | 'rootPidInNs' | 'criuPid' | 'scope'> & {
  restoredAt: Date;
};

async function launchCriu(
  runner: Runner,
  manifest: RestoreManifest,
  runDir: string,
  options: RestoreOptions,
): Promise<Launched> {
  const pidFile = join(runDir, RESTORED_PID_FILE);
  rmSync(pidFile, { force: true });
  const [file = 'systemd-run', ...args] = restoreArgv(manifest, options);
  const launcher = await runner.spawnDetached({ file, args, env: { CRIU_CONFIG_FILE: undefined } });
  const logFile = manifest.criu.logFile;
  try {
    await waitUntil(
      () => existsSync(pidFile) || !isAlive(liveProc, launcher),
      manifest.restoreTimeoutS * 1000,
      'criu restore',
      `read ${logFile}`,
    );
  } catch (cause) {
    await endLaunch(launcher);
    throw criuError('restore', logFile, cause);
  }
  if (!existsSync(pidFile)) throw endedEarly(logFile);
  return launchedTree(manifest, pidFile, launcher, options.closeConnections, new Date());
}

/**
 * A criu past its bound is killed with its launch (its own process group, and the
 * pid namespace it leads) before the run is called failed, and before window
 * scaling comes back: it could still be making the session's sockets.
 */
async function endLaunch(launcher: number): Promise<void> {
  try {
    process.kill(-launcher, 'SIGKILL');
  } catch {
    // Gone already.
  }
  await waitUntil(
    () => !isAlive(liveProc, launcher),
    LAUNCH_END_MS,
    'the timed-out restore to end',
    `kill it by hand: kill -KILL -${launcher}`,
  ).catch(() => undefined);
}

/** How long a killed launch may take to end: a kill of its group is immediate but for the kernel's teardown. */
const LAUNCH_END_MS = 10_000;

/** The launch restore-fast.sh made before Node started, taken up as if this process had made it. */
async function adoptFastLaunch(
  manifest: RestoreManifest,
  runDir: string,
  fast: FastRestore,
): Promise<Launched> {
  const logFile = manifest.criu.logFile;
  const pidFile = join(runDir, RESTORED_PID_FILE);
  if (fast.outcome === 'timeout')
    throw criuError(
      'restore',
      logFile,
      timedOut(manifest.restoreTimeoutS * 1000, 'criu restore', `read ${logFile}`),
    );
  if (fast.outcome !== 'restored' || fast.launcher === undefined || !existsSync(pidFile))
    throw endedEarly(logFile);
  return launchedTree(
    manifest,
    pidFile,
    fast.launcher,
    false,
    fast.marks.get('restored') ?? new Date(),
  );
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
  first: () => Promise<T>,
  again: () => Promise<T>,
): Promise<T> {
  try {
    return await first();
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
