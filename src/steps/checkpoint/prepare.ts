/**
 * Prepare the boot, before the freeze: render and install the units and, where
 * ifupdown brings interfaces up, its hook (inert until the pending mark and the rules file exist), write
 * the restore manifest. After the dump only the lock rules are saved.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

import type { Config } from '../../config/schema.js';
import { selfCommand } from '../../config/self-command.js';
import {
  renderActionScript,
  renderIfPreUpHook,
  renderRestoreBootScript,
  renderRestoreUnit,
  renderRulesUnit,
} from '../../render/artefacts.js';
import {
  HELD_FILES_LOG,
  type HeldDir,
  heldFilesDir,
  plannedHeldFiles,
  writeHeldFiles,
} from '../../state/held-files.js';
import type { StepJournal } from '../../state/journal.js';
import type { Endpoint, RestoreManifest } from '../../state/manifest.js';
import { writeManifest } from '../../state/manifest.js';
import { pendingPath, restoringPath, takenByPath } from '../../state/pending.js';
import type { HostPaths } from '../../tools/host-paths.js';
import { lockRulesFile, lockRulesFor } from '../../tools/iptables.js';
import { clockOffsetMs } from '../../tools/rtc.js';
import type { Runner } from '../../tools/runner.js';
import { enableUnits } from '../../tools/systemd.js';
import { needsIfupdownHook } from '../plan/network.js';
import type { SessionPlan } from '../plan/session-plan.js';
import { writeResumeScript } from '../restore/resume.js';
import { RESTORED_PID_FILE, writeBootScript } from '../restore/script.js';
import { writeTakeScript } from '../restore/take.js';
import type { KexecLoadOutput } from './kexec.js';

const RULES_UNIT = 'kernel-leap-rules.service';
const RESTORE_UNIT = 'kernel-leap-restore.service';
/** The units every prepare installs and enables, and every cleanup disables. */
export const BOOT_UNITS = [RULES_UNIT, RESTORE_UNIT] as const;

export interface PrepareInput {
  runner: Runner;
  config: Config;
  journal: StepJournal;
  plan: SessionPlan;
  /** The kernel the leap boots: the manifest names both kernels, and its command line names the leap. */
  loaded: KexecLoadOutput;
  /** How many sessions the boot restores: side by side at first, but Node's own (a holder, a remap) one after another, which the restore unit's timeout covers. */
  sessions: number;
  host: HostPaths;
}

export interface PrepareOutput {
  units: string[];
  artefacts: string[];
  /** This boot's clock minus the RTC, so the report can compare instants across the kexec. */
  clockOffsetMs: number | undefined;
}

export async function prepareBoot(input: PrepareInput): Promise<PrepareOutput> {
  const { journal, config, plan, host } = input;
  const stateDir = config.paths.state_dir;
  const rulesFile = lockRulesPath(stateDir);
  const actionScript = join(journal.paths.dir, 'criu-action.sh');
  const { node, bundle } = selfCommand(config);
  const iptablesRestore = '/usr/sbin/iptables-restore';
  const bootScript = join(stateDir, 'restore-boot.sh');
  // Not a boot artefact: the restore unit's ExecStopPost= runs it after Node's cleanup (steps/restore/resume.ts).
  const resumeScript = writeResumeScript(stateDir, host);
  // Not a boot artefact either: Node's restore at boot writes it again when it must take the runs itself.
  const takeScript = writeTakeScript(stateDir, host);
  const rulesContext = {
    rulesFile,
    iptablesRestore,
    marker: host.rulesMarker,
    pendingFile: pendingPath(stateDir),
    restoringBootFile: takenByPath(stateDir),
    procBootId: host.procBootId,
  };

  const files: Array<{ path: string; text: string; mode: number }> = [
    {
      path: join(host.unitDir, RULES_UNIT),
      text: renderRulesUnit(rulesContext),
      mode: 0o644,
    },
    {
      path: bootScript,
      text: renderRestoreBootScript({
        stateDir,
        node,
        bundle,
        takeScript,
        resumeScript,
        procSys: host.procSys,
        savedSysctls: host.savedSysctls,
      }),
      // Read by `/bin/sh FILE`, never executed itself.
      mode: 0o600,
    },
    {
      path: join(host.unitDir, RESTORE_UNIT),
      text: renderRestoreUnit({
        pendingFile: pendingPath(stateDir),
        restoringFile: restoringPath(stateDir),
        bootScript,
        timeoutSec:
          config.restore.address_timeout + config.restore.restore_timeout * input.sessions + 60,
        rulesUnit: RULES_UNIT,
        savedSysctls: host.savedSysctls,
        procSys: host.procSys,
        resumeScript,
      }),
      mode: 0o644,
    },
  ];
  if (needsIfupdownHook(plan.networkStacks ?? []))
    files.push({
      path: host.ifupdownHook,
      text: renderIfPreUpHook(rulesContext),
      mode: 0o755,
    });
  for (const file of files) install(journal, file);
  writeActionScript(journal, plan, actionScript, host.pathsLock);

  const units = [...BOOT_UNITS];
  await enableUnits(input.runner, units);
  journal.addArtefact(rulesFile);

  const manifest: RestoreManifest = {
    schema: 1,
    runId: journal.runId,
    imagesDir: journal.paths.images,
    logsDir: journal.paths.logs,
    ptys: plan.ptys,
    connections: plan.connections,
    fifos: plan.fifosToRecreate,
    unixExternals: plan.unixReconnects,
    terminals: plan.terminals,
    socketDirs: plan.socketDirs,
    reopenedFiles: plan.reopenedFiles,
    earlyAddresses: plan.earlyAddresses,
    criu: plan.restoreOptions(
      journal.paths.images,
      join(journal.paths.logs, 'restore.log'),
      actionScript,
    ),
    rulesFile,
    units,
    artefacts: [...journal.artefacts],
    addressTimeoutS: config.restore.address_timeout,
    restoreTimeoutS: config.restore.restore_timeout,
    oldKernel: input.loaded.from,
    newKernel: input.loaded.to.version,
  };
  writeManifest(journal.paths.dir, manifest);
  writeFastScript(journal, manifest, host);
  return { units, artefacts: [...journal.artefacts], clockOffsetMs: await clockOffsetMs() };
}

/**
 * The action script lives in the run dir (kept for a post-mortem), not an artefact;
 * criu runs it as `sh -c FILE`, which needs it executable. It puts back the held
 * files the boot clears, whose list the copy after the dump reads (held-files.json).
 */
function writeActionScript(
  journal: StepJournal,
  plan: SessionPlan,
  path: string,
  pathsLock: string,
): void {
  const dir = journal.paths.dir;
  if (plan.heldFiles.length > 0) writeHeldFiles(dir, plannedHeldFiles(plan.heldFiles));
  const owned = (f: HeldDir) => ({
    path: f.path,
    uid: f.uid,
    gid: f.gid,
    mode: (f.mode & 0o7777).toString(8).padStart(4, '0'),
  });
  const text = renderActionScript({
    pidFile: join(dir, RESTORED_PID_FILE),
    pathsLock,
    heldDir: heldFilesDir(dir),
    heldLog: join(dir, HELD_FILES_LOG),
    heldFiles: plan.heldFiles.map((f, index) => ({
      ...owned(f),
      index,
      root: f.root,
      dirs: f.dirs.map(owned),
      fifo: f.kind === 'fifo',
    })),
  });
  writeFileSync(path, text, { mode: 0o700 });
}

/**
 * The run's restore-fast.sh (templates/restore-boot.sh.hbs says why), unless its
 * restore needs what only Node computes at boot: a terminal of another tree, at
 * the index that tree's restore gave it.
 */
function writeFastScript(journal: StepJournal, manifest: RestoreManifest, host: HostPaths): void {
  if ((manifest.terminals ?? []).length > 0) return;
  writeBootScript(manifest, journal.paths.dir, host);
}

/** The lock rules of every dumped connection, which the boot loads before the network. */
export function lockRulesPath(stateDir: string): string {
  return join(stateDir, 'lock-rules.v4');
}

/**
 * Each file with its own mode, not the umask's: the units and the hook are system
 * files that systemd and ifupdown read, holding no user's data (written owner-only,
 * then opened up); restore-boot.sh is root's alone.
 */
function install(journal: StepJournal, file: { path: string; text: string; mode: number }): void {
  mkdirSync(dirname(file.path), { recursive: true });
  journal.addArtefact(file.path);
  writeFileSync(file.path, file.text, { mode: 0o600 });
  chmodSync(file.path, file.mode);
}

/** After the dump: keep only this session's lock rules, for the boot to load before the network. */
export async function saveLockRules(
  runner: Runner,
  rulesFile: string,
  connections: ReadonlyArray<{ local: Endpoint; peer: Endpoint }>,
): Promise<number> {
  if (connections.length === 0) return 0;
  const specs = await lockRulesFor(runner, connections);
  writeFileSync(rulesFile, lockRulesFile(specs), { mode: 0o600 });
  return specs.length;
}
