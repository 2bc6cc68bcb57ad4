/**
 * The restore script (templates/restore-tree.sh.hbs) is the one implementation of
 * the restore's critical path: the gates, the FIFOs and socket directories, window
 * scaling off while criu makes the sockets, and criu's launch with its bound. It
 * must run before Node is up at boot, so prepare renders it for the next boot
 * (restore-fast.sh, which restore-boot.sh runs); Node's restore renders it again
 * with what only this restore knows (its launch, whether the ptys are remapped)
 * and runs it itself. Either way Node reads what it did from its record.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { ExitCode, LeapError } from '../../errors.js';
import {
  type OwnedPath,
  renderRestoreScript,
  type RestoreScriptContext,
} from '../../render/artefacts.js';
import { localAddresses, type RestoreManifest } from '../../state/manifest.js';
import {
  BOOT_SCRIPT,
  NODE_SCRIPT,
  readRestoreRecord,
  type RestoreRecord,
  type ScriptFiles,
} from '../../state/restore-record.js';
import { criuRestoreArgs } from '../../tools/criu-args.js';
import type { HostPaths } from '../../tools/host-paths.js';
import { plainIp } from '../../tools/ip.js';
import { printable } from '../../tools/printable.js';
import { bootId } from '../../tools/procfs.js';
import { type Runner, tail } from '../../tools/runner.js';
import { scopeArgv } from '../../tools/systemd.js';
import { fdOpenerArgv, type TerminalToOpen } from './world.js';

/** Where criu's action script writes the restored root's pid once the tasks resume. */
export const RESTORED_PID_FILE = 'restored-pid';

export type ScriptHost = Pick<
  HostPaths,
  'procBootId' | 'rulesMarker' | 'procSys' | 'savedSysctls' | 'pathsLock' | 'udevData'
>;

/** How this restore launches criu. */
export interface LaunchOptions {
  /** The peers are gone (a restore by hand of a run a boot cut short): restore the connections shut down. */
  closeConnections: boolean;
  /**
   * The ptys this pass's earlier restores made again, from their index at the dump
   * to their index now: a terminal this tree holds of theirs is opened there. One
   * not among them (its owner not restored, or a restore by hand) is not opened by
   * its old index, which may be someone else's terminal now.
   */
  earlierPtys: ReadonlyMap<number, number>;
}

/** One rendering: the launch, and whether the dumped ptys must be free. */
interface ScriptRun extends LaunchOptions {
  /** False once Node has remapped the taken ptys (steps/restore/pty.ts). */
  checkPtys: boolean;
}

/**
 * The boot's rendering, run by restore-boot.sh on the next boot, whatever started
 * it, before Node starts: no connection shut down (a peer that waited through a
 * reset gets its session back), and no earlier restore's pty to open (a tree
 * that holds one gets none, and stays Node's).
 */
export function writeBootScript(manifest: RestoreManifest, runDir: string, host: ScriptHost): void {
  const run = { closeConnections: false, earlierPtys: new Map(), checkPtys: true };
  writeScript(runDir, BOOT_SCRIPT, scriptContext(manifest, runDir, BOOT_SCRIPT, host, run));
}

/**
 * Node's rendering, run by Node: by hand, for a run the boot's did not launch,
 * after a pty remap, or once more after criu was killed. What it did, from its record.
 */
export async function runRestoreScript(
  runner: Runner,
  manifest: RestoreManifest,
  runDir: string,
  host: ScriptHost,
  launch: LaunchOptions & { checkPtys: boolean },
): Promise<RestoreRecord> {
  const script = writeScript(
    runDir,
    NODE_SCRIPT,
    scriptContext(manifest, runDir, NODE_SCRIPT, host, launch),
  );
  // Exit 1: it gave up, or criu's launch did not restore; the record says which.
  const result = await runner.run({
    file: '/bin/sh',
    args: [script],
    env: { CRIU_CONFIG_FILE: undefined },
    okCodes: [0, 1],
  });
  const record = readRestoreRecord(runDir, NODE_SCRIPT, bootId(host.procBootId));
  if (record) return record;
  throw new LeapError(
    'RESTORE_SCRIPT_FAILED',
    `${script} ended (exit ${result.exitCode}) without writing its record: ${printable(tail(result.stderr, 500))}`,
    { hint: 'read the script and its output in the run dir', exit: ExitCode.restoreFailed },
  );
}

function writeScript(runDir: string, files: ScriptFiles, context: RestoreScriptContext): string {
  const script = join(runDir, files.script);
  writeFileSync(script, renderRestoreScript(context), { mode: 0o600 });
  return script;
}

export function scriptContext(
  manifest: RestoreManifest,
  runDir: string,
  files: ScriptFiles,
  host: ScriptHost,
  run: ScriptRun,
): RestoreScriptContext {
  return {
    runId: manifest.runId,
    record: join(runDir, files.record),
    pidFile: join(runDir, RESTORED_PID_FILE),
    procBootId: host.procBootId,
    rulesFile: manifest.rulesFile,
    marker: host.rulesMarker,
    ...gatedAddresses(manifest),
    addressTimeoutS: manifest.addressTimeoutS,
    restoreTimeoutS: manifest.restoreTimeoutS,
    ptys: run.checkPtys ? manifest.ptys : [],
    fifos: manifest.fifos.map(owned),
    socketDirs: (manifest.socketDirs ?? []).map(owned),
    reopenedFiles: (manifest.reopenedFiles ?? []).map((f, index) => ({
      index,
      path: f.path,
      dev: f.dev ?? '-',
      ino: f.ino ?? '-',
    })),
    unscaled: unscaledWindows(manifest, run.closeConnections),
    procSys: host.procSys,
    savedSysctls: host.savedSysctls,
    argv: restoreArgv(manifest, run),
    criuLog: manifest.criu.logFile,
    pathsLock: host.pathsLock,
    udevData: host.udevData,
  };
}

/**
 * The addresses the gate waits for: each put back early on its interface, and
 * there only (found elsewhere, it is not this one's: the gate waits for the
 * network stack to bring it there); every other anywhere.
 */
function gatedAddresses(
  manifest: RestoreManifest,
): Pick<RestoreScriptContext, 'addresses' | 'earlyAddresses'> {
  const early = manifest.earlyAddresses ?? [];
  return {
    addresses: localAddresses(manifest).filter((ip) => !early.some((a) => a.ip === plainIp(ip))),
    earlyAddresses: early.map((a, index) => ({
      index,
      ip: a.ip,
      prefix: a.prefix,
      dev: a.dev,
      gateway: a.gateway ?? '',
      metric: a.metric === undefined ? '' : String(a.metric),
    })),
  };
}

/** A path with its index in the manifest (the record names it so), its mode in octal and its numeric owner. */
function owned(
  entry: { path: string; mode: number; uid: number; gid: number },
  index: number,
): OwnedPath {
  return {
    index,
    path: entry.path,
    mode: (entry.mode & 0o7777).toString(8),
    uid: entry.uid,
    gid: entry.gid,
  };
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
 * seconds only lose the option. Connections restored shut down need none of it.
 */
function unscaledWindows(manifest: RestoreManifest, closeConnections: boolean): boolean {
  return manifest.connections.length > 0 && !closeConnections;
}

function restoreArgv(manifest: RestoreManifest, launch: LaunchOptions): string[] {
  const tcpClose = launch.closeConnections;
  // A shell job joins criu's session, which criu, pid 1 of the new namespace, must
  // lead: the restore unit's leader is out of its sight (getsid reads 0).
  const criu = [
    ...(manifest.criu.shellJob ? ['setsid'] : []),
    'criu',
    // Stopped until every tree of this restore is: resume-trees.sh resumes them (steps/restore/resume.ts).
    ...criuRestoreArgs({ ...manifest.criu, tcpClose, finalState: 'stopped' }),
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
      heldTerminals(manifest, launch.earlierPtys),
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
