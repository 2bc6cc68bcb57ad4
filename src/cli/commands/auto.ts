/**
 * `kernel-leap auto`: kernel updates leap instead of reboot. Started by
 * kernel-leap-auto.timer (off until enabled), it leaps with every ssh session when
 * a new kernel waits and the [auto] window is open. It runs outside every session,
 * so it starts the worker itself and waits for its outcome: no launcher shell.
 * A no-go never becomes a reboot: it says why, and the next window tries again.
 */
import { waitForOutcomes } from '../../engine/launch.js';
import { ExitCode, isLeapError } from '../../errors.js';
import { type AutoRecord, readAutoRecord, writeAutoRecord } from '../../state/auto.js';
import { Journal } from '../../state/journal.js';
import { PHASES } from '../../state/phase-table.js';
import { autoDecision } from '../../steps/plan/auto.js';
import { installedKernels, rebootRequiredBy, runningKernel } from '../../tools/facts.js';
import type { Command, CommandContext } from '../command.js';
import { launchLeap } from './upgrade.js';

export const autoCommand: Command = {
  name: 'auto',
  needsRoot: true,
  summary:
    'leap with every ssh session to a newly installed kernel, inside the [auto] window; never reboots',
  usage: 'auto [--dry-run]',
  options: { 'dry-run': { type: 'boolean' } },
  optionHelp: [
    '--dry-run        say what auto would do now, and do nothing',
    'exit status: 0 nothing to do, or waiting (disabled, outside the window, tried in this window);',
    '             3 a leap was due and did not start, or its go/no-go said no (the sessions run on,',
    '             and the next window tries again);',
    '             1 the leap failed after it started (`kernel-leap report` says why)',
  ],
  async run(ctx, values) {
    const noGo = lastNoGo(readAutoRecord(ctx.config.paths.state_dir));
    const now = new Date();
    const decision = autoDecision({
      running: runningKernel(ctx.host.procSys),
      installed: installedKernels(ctx.host.boot).map((k) => k.version),
      rebootRequiredBy: rebootRequiredBy(ctx.host.rebootRequired),
      enabled: ctx.config.auto.enabled,
      window: ctx.config.auto.window,
      now,
      lastNoGo: noGo && { at: new Date(noGo.at), reason: noGo.reason },
    });
    const record: AutoRecord = {
      at: now.toISOString(),
      action: decision.action,
      reason: decision.reason,
      ...(decision.action === 'nothing' ? {} : { kernel: decision.kernel.version }),
      ...(noGo ? { lastNoGo: noGo } : {}),
    };
    if (values['dry-run'] === true) {
      tell(ctx, { ...record, reason: `(dry run) ${record.reason}` });
      return ExitCode.ok;
    }
    if (decision.action !== 'leap') return decided(ctx, record, ExitCode.ok);
    return leap(ctx, record, decision.kernel.named ? decision.kernel.version : undefined);
  },
};

/** The last leap auto tried that did not happen (a no-go, or a failure), kept across its later waits. */
function lastNoGo(last: AutoRecord | undefined): AutoRecord['lastNoGo'] {
  return last?.action === 'no-go' || last?.action === 'failed'
    ? { at: last.at, reason: last.reason }
    : last?.lastNoGo;
}

/** `upgrade --all-ssh --yes`, waited for here; the kernel is named when the decision named it. */
async function leap(
  ctx: CommandContext,
  record: AutoRecord,
  kernel: string | undefined,
): Promise<number> {
  ctx.out.progress({ phase: 'auto', state: 'info', message: `auto: leap: ${record.reason}` });
  let started;
  try {
    started = await launchLeap(
      ctx,
      { 'all-ssh': true, yes: true, ...(kernel ? { kernel } : {}) },
      'upgrade',
      'self',
    );
  } catch (error) {
    // Refused before anything started (no ssh session, a leap under way, a bad target): a no-go like any.
    if (!isLeapError(error)) throw error;
    const why = `${error.message}${error.hint ? ` (${error.hint})` : ''}`;
    return decided(ctx, { ...record, action: 'no-go', reason: why }, ExitCode.noGo);
  }
  if ('exit' in started)
    return decided(ctx, { ...record, action: 'no-go', reason: started.why }, ExitCode.noGo);
  const runs = started.journals.map((j) => j.runId);
  writeAutoRecord(ctx.config.paths.state_dir, { ...record, runs });
  // A leap that jumps never comes back here: the restored sessions and this record tell of it.
  const outcomes = await waitForOutcomes(started.journals);
  const noGo = outcomes.includes('no-go');
  return decided(
    ctx,
    {
      ...record,
      runs,
      action: noGo ? 'no-go' : 'failed',
      reason: `run ${runs.join(', ')} ended ${outcomes.join(', ')}: ${runError(ctx, runs)}`,
    },
    noGo ? ExitCode.noGo : ExitCode.failure,
  );
}

/** The first error the runs' phases recorded (as the worker wrote them), or where to read more. */
function runError(ctx: CommandContext, runs: readonly string[]): string {
  for (const runId of runs) {
    const journal = Journal.open(ctx.config.paths.state_dir, runId);
    for (const name of PHASES) {
      const error = journal.phase(name).error;
      if (error) return `${name}: ${error.message}`;
    }
  }
  return `\`kernel-leap report --run ${runs.at(-1) ?? ''}\` says why`;
}

function decided(ctx: CommandContext, record: AutoRecord, code: number): number {
  writeAutoRecord(ctx.config.paths.state_dir, record);
  tell(ctx, record);
  return code;
}

/** One line for the system journal (the service's output) and the terminal. */
function tell(ctx: CommandContext, record: AutoRecord): void {
  ctx.out.result(record, (r) => `auto: ${r.action}: ${r.reason}`);
}
