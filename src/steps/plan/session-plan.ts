/**
 * A plan bound to this machine: facts from /proc and ss, plan() on them, and the
 * criu argv for dump and restore with the config's extra options. check, plan,
 * rehearse and upgrade all go through here, so they agree on the options.
 */
import type { Config } from '../../config/schema.js';
import type {
  EarlyAddress,
  FifoToRecreate,
  HeldTerminal,
  UnixReconnect,
} from '../../state/manifest.js';
import { criuCommand } from '../../tools/criu.js';
import { criuDumpArgs, type CriuRestoreOptions } from '../../tools/criu-args.js';
import { freeBytes } from '../../tools/facts.js';
import { type InterfaceFacts, interfaceFacts } from '../../tools/ip.js';
import { type NetworkStack, networkStacks } from '../../tools/network-stack.js';
import { parseSsUnixPeers } from '../../tools/proc-net.js';
import { liveProc, type ProcSnapshot, recordingProc } from '../../tools/procfs.js';
import type { Runner } from '../../tools/runner.js';
import { type BootClearedDirs, bootClearedDirs } from '../../tools/tmpfiles.js';
import { criuVersion } from '../../tools/versions.js';
import { type Plan, plan } from './classify.js';
import { collectFacts } from './facts.js';
import { heldFilesOf } from './held-files.js';
import { addressPlan } from './network.js';
import { reopenedFilesOf } from './reopened-files.js';

export interface SessionPlan extends Plan {
  /** argv after `criu`, for a dump into imagesDir (run inside ownPidNamespace when set). */
  dumpArgs(imagesDir: string, logFile: string, options?: { leaveRunning?: boolean }): string[];
  restoreOptions(imagesDir: string, logFile: string, actionScript: string): CriuRestoreOptions;
  fifosToRecreate: FifoToRecreate[];
  unixReconnects: UnixReconnect[];
  terminals: HeldTerminal[];
  /** The dumped local addresses the restore puts back itself, before the network stack. */
  earlyAddresses: EarlyAddress[];
}

/** Inherited fds start at 3, above stdio. */
const FIRST_INHERITED_FD = 3;

/** What a plan was made from: enough to replay it in a unit test (plan --record). */
export interface PlanRecording {
  rootPid: number;
  exclude: number[];
  ssUnix: string;
  proc: ProcSnapshot;
  /** The process discover walked up from (plan --record adds it, with what that walk read). */
  selfPid?: number;
  /** `criu --version`'s version on the recorded machine. */
  criuVersion?: string | undefined;
  /** The network stacks found on the recorded machine. */
  networkStacks?: NetworkStack[] | undefined;
  /** What ip said of the recorded machine's interfaces. */
  interfaces?: InterfaceFacts | undefined;
  /** What systemd-tmpfiles said the recorded machine's boot clears. */
  clearedDirs?: BootClearedDirs;
}

export async function planSession(
  runner: Runner,
  config: Config,
  rootPid: number,
  exclude: ReadonlySet<number> = new Set(),
  record?: (recording: PlanRecording) => void,
): Promise<SessionPlan> {
  const [ss, criu, stacks, interfaces, cleared] = await Promise.all([
    runner.run({ file: 'ss', args: ['-xn'], timeoutMs: 30_000 }),
    criuVersion(runner),
    networkStacks(runner),
    interfaceFacts(runner),
    bootClearedDirs(runner),
  ]);
  const recorder = recordingProc(liveProc);
  const proc = record ? recorder.proc : liveProc;
  const base = collectFacts(proc, rootPid, parseSsUnixPeers(ss.stdout), exclude, criu);
  const heldFiles = heldFilesOf(proc, base.tasks, cleared);
  const facts = {
    ...base,
    networkStacks: stacks,
    interfaces,
    heldFiles,
    copyRoom: freeBytes(config.paths.state_dir),
    reopenedFiles: reopenedFilesOf(proc, base.tasks, new Set(heldFiles.files.map((f) => f.path))),
  };
  record?.({
    rootPid,
    exclude: [...exclude],
    ssUnix: ss.stdout,
    proc: recorder.snapshot,
    criuVersion: criu,
    networkStacks: stacks,
    interfaces,
    clearedDirs: cleared,
  });
  return bindPlan(plan(facts), config);
}

/**
 * Killing a restored tree would end its namespace's init (criu reaps until it has
 * no child left), and the kernel would then kill the criu dumping from inside,
 * before it writes its stats and exits 0 (cr_dump_finish). Stopped, the tree stays
 * frozen, its sockets in repair mode and locked, until the kexec. A tree that
 * another tree of the leap talks to, or whose terminal it holds, is left stopped
 * too, so that tree, dumped later, does not see it hang up (cross-tree.ts).
 */
function finalState(base: Plan, leaveRunning: boolean): 'dead' | 'running' | 'stopped' {
  if (leaveRunning) return 'running';
  return base.ownPidNamespace || base.stopAfterDump ? 'stopped' : 'dead';
}

export function bindPlan(base: Plan, config: Config): SessionPlan {
  const fifosToRecreate = base.fifos.map((f, i) => ({
    path: f.path,
    mode: f.mode,
    uid: f.uid,
    gid: f.gid,
    key: f.key,
    fd: FIRST_INHERITED_FD + i,
  }));
  const unixReconnects = base.unixExternals.map((u, i) => ({
    key: `socket:[${u.inode}]`,
    fd: FIRST_INHERITED_FD + fifosToRecreate.length + i,
    peerPath: u.peerPath,
  }));
  const terminals = base.keptTerminals.map((t, i) => ({
    ...t,
    fd: FIRST_INHERITED_FD + fifosToRecreate.length + unixReconnects.length + i,
  }));
  const common = {
    verbosity: 4 as const,
    tcpEstablished: true,
    extUnixSk: true,
    fileLocks: true,
    ...(base.shellJob ? { shellJob: true } : {}),
    manageCgroups: 'ignore' as const,
  };
  const addresses = addressPlan(
    base.connections.map((c) => c.local.ip),
    base.interfaces,
    base.networkStacks,
    config.restore.early_addresses,
  );
  return {
    ...base,
    risks: [...base.risks, ...addresses.notes.map((note) => ({ code: 'ADDRESS', ...note }))],
    earlyAddresses: addresses.early,
    fifosToRecreate,
    unixReconnects,
    terminals,
    dumpArgs: (imagesDir, logFile, options = {}) =>
      criuDumpArgs({
        ...common,
        imagesDir,
        logFile,
        tree: base.ownPidNamespace?.rootNsPid ?? base.rootPid,
        linkRemap: true,
        ghostLimitBytes: base.ghostLimitBytes,
        externals: base.externals,
        networkLock: config.criu.network_lock,
        finalState: finalState(base, options.leaveRunning ?? false),
        extra: config.criu.extra_dump_args,
      }),
    restoreOptions: (imagesDir, logFile, actionScript) => ({
      ...common,
      imagesDir,
      logFile,
      actionScript,
      inheritFds: [...fifosToRecreate, ...unixReconnects, ...terminals].map((x) => ({
        fd: x.fd,
        key: x.key,
      })),
      extra: config.criu.extra_restore_args,
    }),
  };
}

/** The plan as data: what `plan --json` prints and what the plan phase journals. */
export function planSummary(plan: SessionPlan) {
  return {
    criu: {
      version: plan.criu.version,
      assumed: plan.criu.assumed,
      can: plan.criu.can,
      cannot: plan.criu.cannot,
      networkLock: plan.criu.networkLock.method,
    },
    networkStacks: plan.networkStacks,
    earlyAddresses: plan.earlyAddresses,
    rootPid: plan.rootPid,
    pids: plan.pids,
    verdict: plan.verdict,
    risks: plan.risks,
    connections: plan.connections,
    ptys: plan.ptys,
    fifos: plan.fifos,
    unixExternals: plan.unixExternals,
    keptTerminals: plan.keptTerminals,
    ghosts: plan.ghosts,
    execBitFixes: plan.execBitFixes,
    ghostLimitBytes: plan.ghostLimitBytes,
    shellJob: plan.shellJob,
    socketDirs: plan.socketDirs,
    heldFiles: plan.heldFiles,
    reopenedFiles: plan.reopenedFiles,
    criuDump: planDumpCommand(plan),
  };
}

/** The dump's command line with placeholders for the run dir, as a person reads it. */
export function planDumpCommand(plan: SessionPlan): string[] {
  return criuCommand(
    plan.dumpArgs('<run>/images', '<run>/logs/dump.log'),
    plan.ownPidNamespace && plan.rootPid,
  );
}
