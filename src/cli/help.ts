/** --help texts, built from the command table so they cannot drift from it. */
import type { Command } from './command.js';

/** What kernel-leap is, in one line: the help's first and the manual page's NAME. */
export const TAGLINE = 'carry a live ssh session across a kernel upgrade (CRIU + kexec)';

export const GLOBAL_HELP = [
  '--json           machine-readable output: one JSON object per line',
  '-v, --verbose    more detail on stderr',
  '--config FILE    config file (default /etc/kernel-leap/kernel-leap.conf)',
  '--set S.KEY=VAL  override one config key, e.g. --set s3.bucket=logs',
  '-h, --help       this help',
  '-V, --version    print the version',
];

export const EXIT_CODES_HELP = [
  '0 ok    1 failure    2 usage    3 no-go (nothing was touched)    4 still under way (runs --since)',
  '5 tool missing    6 not root    7 bad config    8 restore failed',
];

export function mainHelp(commands: readonly Command[]): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    `kernel-leap: ${TAGLINE}`,
    '',
    'usage: kernel-leap <command> [options]',
    '       kernel-leap help <command>',
    '',
    'commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'global options:',
    ...GLOBAL_HELP.map((l) => `  ${l}`),
    '',
    'exit codes:',
    ...EXIT_CODES_HELP.map((l) => `  ${l}`),
  ].join('\n');
}

export function commandHelp(command: Command): string {
  return [
    `usage: kernel-leap ${command.usage}`,
    '',
    command.summary,
    '',
    'options:',
    ...command.optionHelp.map((l) => `  ${l}`),
    ...GLOBAL_HELP.map((l) => `  ${l}`),
  ].join('\n');
}
