import { writeFileSync } from 'node:fs';

import { ExitCode } from '../../errors.js';
import {
  type BootFallback,
  bootFallback,
  describeFallback,
} from '../../steps/checkpoint/fallback.js';
import {
  type CrossTreeStream,
  crossTreeStreams,
  describeCrossTreeStream,
  linkTrees,
} from '../../steps/plan/cross-tree.js';
import { discover, type SessionRoot } from '../../steps/plan/discover.js';
import { withScopeTrees } from '../../steps/plan/scope-trees.js';
import {
  planDumpCommand,
  type PlanRecording,
  planSession,
  planSummary,
  type SessionPlan,
} from '../../steps/plan/session-plan.js';
import { printable } from '../../tools/printable.js';
import { liveProc, mergeSnapshots, recordingProc } from '../../tools/procfs.js';
import type { Command } from '../command.js';
import { formatIndented, formatTable } from '../output.js';
import { checkLosses, SESSION_HELP, SESSION_OPTIONS, sessionSelector } from './session-options.js';

export const planCommand: Command = {
  name: 'plan',
  needsRoot: true,
  summary: 'show the session, what reaches outside it, the CRIU options and every risk',
  usage: 'plan [--pid PID | --tty pts/N | --all-ssh] [--allow-loss]',
  options: { ...SESSION_OPTIONS, record: { type: 'string' } },
  optionHelp: [
    ...SESSION_HELP,
    '--record FILE    also write what the plan read from /proc (a test fixture)',
  ],
  async run(ctx, values) {
    const discovery = recordingProc(liveProc);
    const self = new Set([process.pid]);
    const roots = withScopeTrees(
      discovery.proc,
      discover(discovery.proc, { ...sessionSelector(values), selfPid: process.pid }),
      self,
    );
    const file = values.record;
    const record =
      typeof file === 'string'
        ? (r: PlanRecording) =>
            writeFileSync(
              file,
              `${JSON.stringify({ ...r, selfPid: process.pid, proc: mergeSnapshots(discovery.snapshot, r.proc) })}\n`,
              { mode: 0o600 },
            )
        : undefined;
    // This process leaves the session before any dump, so it is not planned for.
    const planned = await Promise.all(
      roots.map((r) => planSession(ctx.runner, ctx.config, r.pid, self, record)),
    );
    const plans = linkTrees(planned, ctx.config, liveProc, 'plan');
    const sessions = plans.map((p, i) => ({ root: roots[i], ...planSummary(p) }));
    const losses = checkLosses(roots, values);
    const streams = crossTreeStreams(plans);
    const fallback = await bootFallback(ctx.runner, ctx.host);
    const text = (_: unknown, width: number | undefined) =>
      [
        ...plans.map((p, i) => renderPlan(p, roots[i] as SessionRoot, width)),
        renderCrossTreeStreams(streams),
        losses.text,
        renderFallback(fallback),
      ]
        .filter(Boolean)
        .join('\n\n');
    ctx.out.result(
      {
        sessions,
        crossTreeStreams: streams,
        leftBehind: losses.losses,
        lossRefused: losses.refused,
        fallback,
      },
      text,
    );
    return plans.every((p) => p.verdict === 'go') && !losses.refused ? ExitCode.ok : ExitCode.noGo;
  },
};

export function renderPlan(
  plan: SessionPlan,
  root: Pick<SessionRoot, 'cmdline' | 'scopeTree'>,
  width?: number,
): string {
  const rows = plan.risks.map((r) => [r.level, r.code, r.message]);
  const hints = plan.risks
    .filter((r) => r.hint && r.level !== 'ok')
    .map((r) => formatIndented(`${r.code}: ${r.hint}`, width));
  return [
    `${treeTitle(plan, root)}, ${plan.pids.length} processes: ${plan.pids.join(' ')}`,
    '',
    formatTable(['level', 'what', 'strategy'], rows, width),
    ...(hints.length ? ['', 'what to do:', ...hints] : []),
    '',
    printable(planDumpCommand(plan).join(' ')),
    '(CRIU_CONFIG_FILE is cleared and --no-default-config skips /etc/criu/default.conf)',
    '',
    `verdict: ${plan.verdict}`,
  ].join('\n');
}

/** What brings the machine back if the new kernel fails to boot; grub.cfg's ids are shown escaped. */
export function renderFallback(fallback: BootFallback): string {
  return printable(`fallback if the new kernel fails to boot: ${describeFallback(fallback)}`);
}

/** Streams between two carried trees, which the restore rejoins; empty when there is none. */
export function renderCrossTreeStreams(streams: readonly CrossTreeStream[]): string {
  return streams.length
    ? [
        'connections between carried trees:',
        ...streams.map((s) => `ok     ${describeCrossTreeStream(s)}`),
      ].join('\n')
    : '';
}

/**
 * A session's own tree, or a tree of its logind scope carried beside it. One
 * line: the root's command line is its user's to write, newlines included.
 */
function treeTitle(plan: SessionPlan, root: Pick<SessionRoot, 'cmdline' | 'scopeTree'>): string {
  const cmdline = printable(root.cmdline);
  if (!root.scopeTree) return `session root: ${plan.rootPid} (${cmdline})`;
  return printable(
    `tree of session ${root.scopeTree.session}'s login scope ${root.scopeTree.scope.split('/').at(-1) ?? ''}, outside its ssh tree: root ${plan.rootPid} (${cmdline}), carried too`,
  );
}
