import { selfCommand } from '../../config/self-command.js';
import { ExitCode } from '../../errors.js';
import { type Finding, runCheck } from '../../steps/plan/check.js';
import type { Command } from '../command.js';
import { formatIndented, formatTable } from '../output.js';

export const checkCommand: Command = {
  name: 'check',
  needsRoot: false,
  summary:
    'check this host: root, the node and bundle the boot units run, CRIU and the other tools, the network stack, kernels in /boot, free space',
  usage: 'check [--json]',
  optionHelp: [],
  options: {},
  async run(ctx) {
    const result = await runCheck({
      runner: ctx.runner,
      stateDir: ctx.config.paths.state_dir,
      uid: process.getuid?.() ?? -1,
      runtime: selfCommand(ctx.config),
      ownNode: { path: process.execPath, version: process.version },
    });
    ctx.out.result(result, (r, width) => renderFindings(r.findings, r.verdict, width));
    return result.verdict === 'fail' ? ExitCode.failure : ExitCode.ok;
  },
};

export function renderFindings(
  findings: readonly Finding[],
  verdict: string,
  width?: number,
): string {
  const rows = findings.map((f) => [f.level, f.item, f.detail]);
  const hints = findings
    .filter((f) => f.hint)
    .map((f) => formatIndented(`${f.item}: ${f.hint}`, width));
  return [
    formatTable(['level', 'item', 'detail'], rows, width),
    ...(hints.length ? ['', 'what to do:', ...hints] : []),
    '',
    `verdict: ${verdict}`,
  ].join('\n');
}
