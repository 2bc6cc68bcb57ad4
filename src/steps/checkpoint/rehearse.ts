/**
 * Rehearse: a real `criu dump --leave-running` into a scratch dir with the planned
 * options, an image check, then the scratch is deleted. The session keeps running
 * and no lock rule stays: the user learns go or no-go before anything is lost.
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

import { isLeapError } from '../../errors.js';
import type { StepJournal } from '../../state/journal.js';
import { dropLockRules } from '../../tools/iptables.js';
import { readStatus } from '../../tools/proc-tasks.js';
import { liveProc } from '../../tools/procfs.js';
import type { Runner } from '../../tools/runner.js';
import type { SessionPlan } from '../plan/session-plan.js';
import { dumpTree, stoppedProcesses } from './dump.js';

export interface RehearsalOutput {
  verdict: 'go' | 'no-go';
  reasons: string[];
  hint?: string;
  freezeMs?: number;
  imagesBytes?: number;
}

const REQUIRED_IMAGES = ['inventory.img', 'pstree.img', 'files.img'];

export async function rehearseDump(
  runner: Runner,
  journal: StepJournal,
  plan: SessionPlan,
): Promise<RehearsalOutput> {
  const scratch = journal.paths.rehearsal;
  const logFile = join(journal.paths.logs, 'rehearsal.log');
  mkdirSync(scratch, { recursive: true, mode: 0o700 });
  try {
    // A job its user stopped stays stopped after -R, as it must: only a task criu left so counts.
    const stoppedBefore = stoppedProcesses(liveProc, plan.pids);
    const dumped = await dumpTree({
      runner,
      journal,
      logFile,
      imagesDir: scratch,
      markPrefix: 'rehearsal',
      criuArgs: plan.dumpArgs(scratch, logFile, { leaveRunning: true }),
      insideNamespacesOf: plan.ownPidNamespace && plan.rootPid,
      pids: plan.pids,
      execBitFixes: plan.execBitFixes,
      connections: plan.connections,
    });
    const reasons = [
      ...missingImages(scratch, plan.ownPidNamespace?.rootNsPid ?? plan.rootPid),
      ...stoppedTasks(plan.pids, stoppedBefore),
      ...(await leftoverRules(runner, plan)),
    ];
    return {
      verdict: reasons.length === 0 ? 'go' : 'no-go',
      reasons,
      freezeMs: dumped.durationMs,
      imagesBytes: dumped.imagesBytes,
    };
  } catch (error) {
    if (!isLeapError(error)) throw error;
    return {
      verdict: 'no-go',
      reasons: [error.message],
      ...(error.hint ? { hint: error.hint } : {}),
    };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

function missingImages(dir: string, rootPid: number): string[] {
  return [...REQUIRED_IMAGES, `core-${rootPid}.img`]
    .filter((name) => !existsSync(join(dir, name)))
    .map((name) => `the rehearsal wrote no ${name}`);
}

function stoppedTasks(pids: readonly number[], stoppedBefore: readonly number[]): string[] {
  return pids
    .filter(
      (pid) =>
        !stoppedBefore.includes(pid) && /^[tT]$/.test(readStatus(liveProc, pid)?.state ?? ''),
    )
    .map((pid) => `task ${pid} was left stopped`);
}

/** --leave-running makes CRIU drop its lock rules; any left would cut the session off. */
async function leftoverRules(runner: Runner, plan: SessionPlan): Promise<string[]> {
  const removed = await dropLockRules(runner, plan.connections);
  return removed === 0
    ? []
    : [`criu left ${removed} lock rules after --leave-running (removed them)`];
}
