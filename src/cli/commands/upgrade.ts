import { release } from 'node:os';
import { createInterface } from 'node:readline/promises';

import { LAYOUT } from '../../config/layout.js';
import { handOff, launchWorker } from '../../engine/launch.js';
import { inDumpOrder, leapOf } from '../../engine/leap.js';
import { ExitCode, LeapError } from '../../errors.js';
import { Journal } from '../../state/journal.js';
import { assertMachineFree } from '../../state/leap-lock.js';
import { treeDumpBoundMs } from '../../steps/checkpoint/dump.js';
import { type BootFallback, bootFallback } from '../../steps/checkpoint/fallback.js';
import {
  checkedTarget,
  resolvedAfterPre,
  type TargetReason,
  targetReason,
} from '../../steps/checkpoint/kexec.js';
import { noGoReasons } from '../../steps/plan/classify.js';
import { crossTreeStreams, linkTrees } from '../../steps/plan/cross-tree.js';
import { callerLast, discover, type SessionRoot, treeHolding } from '../../steps/plan/discover.js';
import { withScopeTrees } from '../../steps/plan/scope-trees.js';
import { planSession, type SessionPlan } from '../../steps/plan/session-plan.js';
import { printable } from '../../tools/printable.js';
import { liveProc } from '../../tools/procfs.js';
import type { Command, CommandContext, ParsedValues } from '../command.js';
import { terminalWidth } from '../output.js';
import { renderCrossTreeStreams, renderFallback, renderPlan } from './plan.js';
import { checkLosses, SESSION_HELP, SESSION_OPTIONS, sessionSelector } from './session-options.js';

export const upgradeCommand: Command = {
  name: 'upgrade',
  needsRoot: true,
  summary: 'plan, rehearse, dump the session, prepare the boot and kexec into the new kernel',
  usage:
    'upgrade [--kernel VERSION|PATH] [--pid PID | --tty pts/N | --all-ssh] [--allow-loss] [--pre CMD] [--no-rehearse] [--no-exec] [--yes]',
  options: {
    ...SESSION_OPTIONS,
    kernel: { type: 'string' },
    pre: { type: 'string' },
    'no-exec': { type: 'boolean' },
    'no-rehearse': { type: 'boolean' },
    yes: { type: 'boolean', short: 'y' },
  },
  optionHelp: [
    ...SESSION_HELP,
    '--kernel V|PATH  kernel to boot (default: the newest installed one newer than the running kernel; with --pre, the newest once --pre ran)',
    '--pre CMD        run CMD (e.g. apt-get -y dist-upgrade) after the rehearsal, before the dump',
    '--no-rehearse    skip the rehearsal dump',
    '--no-exec        stop after the dump and the boot preparation (kernel loaded, units installed)',
    '-y, --yes        do not ask for confirmation',
  ],
  run: (ctx, values) => startWorkerRun(ctx, values, 'upgrade'),
};

export const rehearseCommand: Command = {
  name: 'rehearse',
  needsRoot: true,
  summary:
    'dump the session with --leave-running into a scratch dir, check the images, say go or no-go',
  usage: 'rehearse [--pid PID | --tty pts/N | --all-ssh] [--allow-loss]',
  options: SESSION_OPTIONS,
  optionHelp: SESSION_HELP,
  run: (ctx, values) => startWorkerRun(ctx, values, 'rehearse'),
};

async function startWorkerRun(
  ctx: CommandContext,
  values: ParsedValues,
  mode: 'upgrade' | 'rehearse',
): Promise<number> {
  const started = await launchLeap(ctx, values, mode, 'launcher');
  if ('exit' in started) return started.exit;
  handOff(process.env.KERNEL_LEAP_HANDOFF as string, started.journals.at(-1) as Journal);
  return ExitCode.handoff;
}

/**
 * Who waits for the runs' outcome: the launcher shell in the caller's session
 * (the Node foreground is gone before the dump), or this process, which runs
 * outside every session (`auto`, started by its timer).
 */
export type Waiter = 'launcher' | 'self';

/**
 * Discovers the sessions, checks the target, plans, asks, and starts the detached
 * worker: its runs in dump order (the caller's last), or the exit code of a refusal before it and why.
 */
export async function launchLeap(
  ctx: CommandContext,
  values: ParsedValues,
  mode: 'upgrade' | 'rehearse',
  waiter: Waiter,
): Promise<{ exit: number; why: string } | { journals: Journal[] }> {
  assertMachineFree(ctx.config.paths.state_dir, mode);
  const self = new Set([process.pid]);
  const found = withScopeTrees(
    liveProc,
    discover(liveProc, { ...sessionSelector(values), selfPid: process.pid }),
    self,
  );
  // The caller's tree goes last: its ssh session's, or a tmux server's when typed in a tmux window.
  // auto has no caller: the first session found (the lowest pid, most often the longest open) takes
  // its place, so that a short ssh command ending meanwhile is only one of the others.
  const caller = waiter === 'launcher' ? treeHolding(liveProc, found, process.pid) : found[0]?.pid;
  const roots = callerLast(found, caller);
  const target = mode === 'upgrade' ? await upgradeTarget(ctx, values) : undefined;
  if (waiter === 'launcher' && !process.env.KERNEL_LEAP_HANDOFF) {
    throw new LeapError('NO_LAUNCHER', `${mode} must run through the launcher ${LAYOUT.launcher}`, {
      hint: `run ${LAYOUT.launcher} ${mode}: Node holds io_uring fds that CRIU 3.17 cannot dump, so it hands the wait to that shell and leaves the session; install the kernel-leap package if it is missing (see the README)`,
      exit: ExitCode.usage,
    });
  }
  const previews = [];
  for (const root of roots)
    previews.push(await planSession(ctx.runner, ctx.config, root.pid, self));
  const shown = linkTrees(previews, ctx.config, liveProc, 'plan');
  ctx.out.aside(previewText(shown, roots, target, terminalWidth(process.stderr)));
  if (shown.some((p) => p.verdict === 'no-go'))
    return { exit: ExitCode.noGo, why: `the plan says no-go: ${noGoReasons(shown)}` };
  const losses = checkLosses(roots, values);
  if (losses.text) ctx.out.aside(`${losses.text}\n`);
  if (losses.refused)
    return { exit: ExitCode.noGo, why: "another user's ssh session would be lost" };
  if (target && values.yes !== true && !(await confirm(roots.length, target.version)))
    return { exit: ExitCode.usage, why: 'not confirmed' };

  // One run per session, the caller's created last: `latest` then names the run its launcher waits on.
  const leap = leapOf(
    roots.map((root) => ({ root, journal: Journal.create(ctx.config.paths.state_dir, mode) })),
  );
  const { journal } = leap.caller;
  const unit = await launchWorker(
    ctx.runner.loggingTo(journal.paths.commandLog),
    ctx.config,
    { file: ctx.configFile, overrides: ctx.configOverrides },
    journal,
    {
      runId: journal.runId,
      rootPid: leap.caller.root.pid,
      others: leap.others.map((s) => ({ runId: s.journal.runId, rootPid: s.root.pid })),
      mode,
      // The foreground in the session must be gone before the dump; auto's is in none.
      ...(waiter === 'launcher' ? { waitPid: process.pid, callerPidNs: ownPidNamespace() } : {}),
      rehearse: values['no-rehearse'] !== true,
      exec: values['no-exec'] !== true,
      ...(typeof values.pre === 'string' ? { pre: values.pre } : {}),
      ...(typeof values.kernel === 'string' ? { kernel: values.kernel } : {}),
      dumpBoundMs: Math.max(...previews.map((p) => treeDumpBoundMs(p.pids))),
    },
  );
  ctx.out.progress({
    phase: 'worker',
    state: 'info',
    message: `run ${inDumpOrder(leap)
      .map((s) => s.journal.runId)
      .join(', ')} handed to ${unit}`,
  });
  return { journals: inDumpOrder(leap).map((s) => s.journal) };
}

/** What `upgrade` shows before it asks: each tree's plan, the streams between them, the kernel. */
export function previewText(
  plans: readonly SessionPlan[],
  roots: readonly SessionRoot[],
  target: UpgradeTarget | undefined,
  width: number | undefined,
): string {
  const text = [
    ...plans.map((p, i) => renderPlan(p, roots[i] as SessionRoot, width)),
    renderCrossTreeStreams(crossTreeStreams(plans)),
  ].filter(Boolean);
  if (target)
    text.push(
      `kernel: ${target.version ?? 'the newest one installed after --pre'} (${target.why})\n${renderFallback(target.fallback)}`,
    );
  return `${text.join('\n\n')}\n`;
}

/** The kernel the leap boots, why that one, and what brings the machine back if it fails to boot. */
interface UpgradeTarget {
  version: string | undefined;
  why: TargetReason;
  fallback: BootFallback;
}

/**
 * The kernel to leap to, and why. A typo in --kernel must stop us here, not after
 * the rehearsal's freeze and --pre's changes; the default with a --pre is the
 * kernel the --pre installs, which the worker resolves and checks after it ran.
 */
async function upgradeTarget(ctx: CommandContext, values: ParsedValues): Promise<UpgradeTarget> {
  const kernel = typeof values.kernel === 'string' ? values.kernel : undefined;
  const pre = typeof values.pre === 'string' ? values.pre : undefined;
  const why = targetReason(kernel, ctx.config.kexec, pre !== undefined);
  const fallback = await bootFallback(ctx.runner, ctx.host);
  if (resolvedAfterPre(kernel, ctx.config.kexec, pre)) return { version: undefined, why, fallback };
  const checked = await checkedTarget({
    runner: ctx.runner,
    config: ctx.config.kexec,
    kernel,
    host: ctx.host,
  });
  return { version: checked.version, why, fallback };
}

/** Our pids are in this namespace: inside a restored session it is not the worker's. */
function ownPidNamespace(): string | undefined {
  return liveProc.readLink('/proc/self/ns/pid');
}

/** `trees`: the sessions and the other trees of their login scopes, as the plan above lists them. */
async function confirm(trees: number, kernel: string | undefined): Promise<boolean> {
  if (!process.stdin.isTTY)
    throw new LeapError('USAGE', 'upgrade needs confirmation and stdin is not a terminal', {
      hint: 'pass --yes',
      exit: ExitCode.usage,
    });
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  const answer = await rl.question(
    printable(
      `Freeze ${trees === 1 ? 'this session' : `the ${trees} process trees above`} and kexec into ${kernel ?? 'the newest kernel installed after --pre'} (from ${release()})? [y/N] `,
    ),
  );
  rl.close();
  return /^y(es)?$/i.test(answer.trim());
}
