/**
 * Prepare the boot, before the freeze: render and install the units and, where
 * ifupdown brings interfaces up, its hook (inert until the pending mark and the rules file exist), write
 * the restore manifest. After the dump only the lock rules are saved.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Config } from '../config/schema.js';
import { selfCommand } from '../config/self-command.js';
import type { Journal } from '../state/journal.js';
import { pendingPath, restoringPath } from '../state/pending.js';
import { needsIfupdownHook } from './network.js';
import type { SessionPlan } from './planning.js';
import { renderActionScript, renderIfPreUpHook, renderRestoreUnit, renderRulesUnit } from '../render/artefacts.js';
import { lockRulesFile, lockRulesFor } from '../tools/iptables.js';
import { LEAP_PARAMETER } from '../tools/kexec.js';
import type { HostPaths } from '../tools/host-paths.js';
import type { Runner } from '../tools/runner.js';
import { clockOffsetMs } from '../tools/rtc.js';
import { enableUnits } from '../tools/systemd.js';
import type { Endpoint } from '../state/manifest.js';
import { writeManifest } from '../state/manifest.js';
import { RESTORED_PID_FILE } from './restore.js';

const RULES_UNIT = 'kernel-leap-rules.service';
const RESTORE_UNIT = 'kernel-leap-restore.service';
/** The units every prepare installs and enables, and every cleanup disables. */
export const BOOT_UNITS = [RULES_UNIT, RESTORE_UNIT] as const;

export interface PrepareInput {
  runner: Runner;
  config: Config;
  journal: Journal;
  plan: SessionPlan;
  /** How many sessions the boot restores, one after another: the restore unit's timeout covers them all. */
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

  const files: Array<{ path: string; text: string; mode: number }> = [
    { path: join(host.unitDir, RULES_UNIT), text: renderRulesUnit({ rulesFile, iptablesRestore, marker: host.rulesMarker, leapParameter: LEAP_PARAMETER, procCmdline: host.procCmdline }), mode: 0o644 },
    { path: join(host.unitDir, RESTORE_UNIT), text: renderRestoreUnit({ pendingFile: pendingPath(stateDir), restoringFile: restoringPath(stateDir), node, bundle, timeoutSec: config.restore.address_timeout + config.restore.restore_timeout * input.sessions + 60, rulesUnit: RULES_UNIT, savedSysctls: host.savedSysctls, procSys: host.procSys }), mode: 0o644 },
  ];
  if (needsIfupdownHook(plan.networkStacks ?? [])) files.push({ path: host.ifupdownHook, text: renderIfPreUpHook({ rulesFile, iptablesRestore, marker: host.rulesMarker, leapParameter: LEAP_PARAMETER, procCmdline: host.procCmdline }), mode: 0o755 });
  for (const file of files) install(journal, file);
  // The action script lives in the run dir (kept for a post-mortem), not an artefact.
  writeFileSync(actionScript, renderActionScript({ pidFile: join(journal.paths.dir, RESTORED_PID_FILE) }), { mode: 0o700 });

  const units = [...BOOT_UNITS];
  await enableUnits(input.runner, units);
  journal.addArtefact(rulesFile);

  writeManifest(journal.paths.dir, {
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
    criu: plan.restoreOptions(journal.paths.images, join(journal.paths.logs, 'restore.log'), actionScript),
    rulesFile,
    units,
    artefacts: journal.snapshot.artefacts,
    addressTimeoutS: config.restore.address_timeout,
    restoreTimeoutS: config.restore.restore_timeout,
    oldKernel: String(journal.phase('load').outputs?.from ?? ''),
    newKernel: String(journal.phase('load').outputs?.to ?? ''),
  });
  return { units, artefacts: journal.snapshot.artefacts, clockOffsetMs: await clockOffsetMs() };
}

/** The lock rules of every dumped connection, which the boot loads before the network. */
export function lockRulesPath(stateDir: string): string {
  return join(stateDir, 'lock-rules.v4');
}

function install(journal: Journal, file: { path: string; text: string; mode: number }): void {
  mkdirSync(dirname(file.path), { recursive: true });
  journal.addArtefact(file.path);
  writeFileSync(file.path, file.text);
  // Units and the hook are read by systemd and ifupdown: their mode, not the umask's.
  chmodSync(file.path, file.mode);
}

/** After the dump: keep only this session's lock rules, for the boot to load before the network. */
export async function saveLockRules(runner: Runner, rulesFile: string, connections: ReadonlyArray<{ local: Endpoint; peer: Endpoint }>): Promise<number> {
  if (connections.length === 0) return 0;
  const specs = await lockRulesFor(runner, connections);
  writeFileSync(rulesFile, lockRulesFile(specs), { mode: 0o600 });
  return specs.length;
}
