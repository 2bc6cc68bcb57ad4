import { writeFileSync } from 'node:fs';
import { type PlanRecording, planDumpCommand, planSession, planSummary, type SessionPlan } from '../../steps/planning.js';
import { ExitCode } from '../../errors.js';
import { discover } from '../../steps/discover.js';
import { liveProc, mergeSnapshots, recordingProc } from '../../tools/procfs.js';
import type { Command } from '../command.js';
import { formatTable } from '../output.js';
import { checkLosses, SESSION_HELP, SESSION_OPTIONS, sessionSelector } from './session-options.js';

export const planCommand: Command = {
  name: 'plan',
  needsRoot: true,
  summary: 'show the session, what reaches outside it, the CRIU options and every risk',
  usage: 'plan [--pid PID | --tty pts/N | --all-ssh] [--allow-loss]',
  options: { ...SESSION_OPTIONS, record: { type: 'string' } },
  optionHelp: [...SESSION_HELP, '--record FILE    also write what the plan read from /proc (a test fixture)'],
  async run(ctx, values) {
    const discovery = recordingProc(liveProc);
    const roots = discover(discovery.proc, { ...sessionSelector(values), selfPid: process.pid });
    const file = values.record;
    const record = typeof file === 'string'
      ? (r: PlanRecording) => writeFileSync(file, `${JSON.stringify({ ...r, selfPid: process.pid, proc: mergeSnapshots(discovery.snapshot, r.proc) })}\n`, { mode: 0o600 })
      : undefined;
    // This process leaves the session before any dump, so it is not planned for.
    const plans = await Promise.all(roots.map((r) => planSession(ctx.runner, ctx.config, r.pid, new Set([process.pid]), record)));
    const sessions = plans.map((p, i) => ({ root: roots[i], ...planSummary(p) }));
    const losses = checkLosses(roots, values);
    ctx.out.result({ sessions, leftBehind: losses.losses, lossRefused: losses.refused }, () => [...plans.map((p, i) => renderPlan(p, roots[i]?.cmdline ?? '')), ...(losses.text ? [losses.text] : [])].join('\n\n'));
    return plans.every((p) => p.verdict === 'go') && !losses.refused ? ExitCode.ok : ExitCode.noGo;
  },
};

export function renderPlan(plan: SessionPlan, cmdline: string): string {
  const rows = plan.risks.map((r) => [r.level, r.code, r.message]);
  const hints = plan.risks.filter((r) => r.hint && r.level !== 'ok').map((r) => `  ${r.code}: ${r.hint}`);
  return [
    `session root: ${plan.rootPid} (${cmdline}), ${plan.pids.length} processes: ${plan.pids.join(' ')}`,
    '',
    formatTable(['level', 'what', 'strategy'], rows),
    ...(hints.length ? ['', 'what to do:', ...hints] : []),
    '',
    planDumpCommand(plan).join(' '),
    '(CRIU_CONFIG_FILE is cleared and --no-default-config skips /etc/criu/default.conf)',
    '',
    `verdict: ${plan.verdict}`,
  ].join('\n');
}
