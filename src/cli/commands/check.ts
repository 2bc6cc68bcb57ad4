import { ExitCode } from '../../errors.js';
import { type Finding, runCheck } from '../../steps/plan/check.js';
import type { Command } from '../command.js';
import { formatTable } from '../output.js';

export const checkCommand: Command = {
  name: 'check',
  needsRoot: false,
  summary:
    'check this host: root, node, CRIU and the other tools, the network stack, kernels in /boot, free space',
  usage: 'check [--json]',
  optionHelp: [],
  options: {},
  async run(ctx) {
    const result = await runCheck({
      runner: ctx.runner,
      stateDir: ctx.config.paths.state_dir,
      uid: process.getuid?.() ?? -1,
      nodeVersion: process.version,
    });
    ctx.out.result(result, (r) => renderFindings(r.findings, r.verdict));
    return result.verdict === 'fail' ? ExitCode.failure : ExitCode.ok;
  },
};

export function renderFindings(findings: readonly Finding[], verdict: string): string {
  const rows = findings.map((f) => [f.level, f.item, f.detail]);
  const hints = findings.filter((f) => f.hint).map((f) => `  ${f.item}: ${f.hint}`);
  return [
    formatTable(['level', 'item', 'detail'], rows),
    ...(hints.length ? ['', 'what to do:', ...hints] : []),
    '',
    `verdict: ${verdict}`,
  ].join('\n');
}
