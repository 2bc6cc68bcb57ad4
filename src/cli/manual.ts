/**
 * The manual page kernel-leap(8) and the bash completion, generated from the
 * command table and the help texts, as --help is: they cannot drift from the CLI.
 * The packaging (scripts/deb.ts) writes them; the CLI itself never loads this.
 */
import { DEFAULT_CONFIG_FILE, SCHEMA } from '../config/schema.js';
import type { Command, OptionSpec } from './command.js';
import { COMMANDS } from './commands/index.js';
import { EXIT_CODES_HELP, GLOBAL_HELP, TAGLINE } from './help.js';
import { GLOBAL_OPTIONS } from './main.js';

/** The commands a person types: the manual and the completion leave the internal ones out. */
export function typedCommands(commands: readonly Command[] = COMMANDS): Command[] {
  return commands.filter((c) => c.internal !== true);
}

export interface ManualInput {
  version: string;
  /** The page's date, YYYY-MM-DD. */
  date: string;
  /** Where the package puts the timers. */
  unitDir: string;
}

/** roff text: backslashes and hyphens escaped (an option's - must stay a minus to copy), no line read as a request. */
export function roff(text: string): string {
  return text
    .replaceAll('\\', '\\e')
    .replaceAll('-', '\\-')
    .replace(/^([.'])/gm, '\\&$1');
}

/** A help line "FLAG  what it does" as a tagged paragraph; a line without the gap stays a paragraph. */
function optionItem(line: string): string[] {
  const match = /^(\S.*?)\s{2,}(\S.*)$/.exec(line);
  return match ? ['.TP', `.B ${roff(match[1] ?? '')}`, roff(match[2] ?? '')] : ['.PP', roff(line)];
}

function commandItem(command: Command): string[] {
  return [
    '.TP',
    `.B ${roff(command.usage)}`,
    roff(command.summary),
    ...(command.optionHelp.length ? ['.RS', ...command.optionHelp.flatMap(optionItem), '.RE'] : []),
  ];
}

const SEE_ALSO = ['criu(8)', 'kexec(8)', 'systemd.timer(5)', 'iptables(8)'];

export function manPage(input: ManualInput): string {
  const sections = Object.keys(SCHEMA).map((s) => `[${s}]`);
  return [
    `.TH KERNEL\\-LEAP 8 "${input.date}" "kernel\\-leap ${roff(input.version)}" "System Administration"`,
    // Left-adjusted and never hyphenated: paths and options must read as they are typed.
    '.ad l',
    '.nh',
    '.SH NAME',
    `kernel\\-leap \\- ${roff(TAGLINE)}`,
    '.SH SYNOPSIS',
    '.B kernel\\-leap',
    '.I command',
    '.RI [ options ]',
    '.br',
    '.B kernel\\-leap help',
    '.I command',
    '.SH DESCRIPTION',
    roff(
      'kernel-leap moves a Linux machine to a new kernel without ending the ssh sessions on it. ' +
        'It checkpoints each session with CRIU, its TCP connections included, loads the new kernel with kexec, ' +
        'and restores the session early in the new boot. Before anything is touched, plan and rehearse say whether the leap will work. ' +
        'It runs as root.',
    ),
    '.SH COMMANDS',
    ...typedCommands().flatMap(commandItem),
    '.SH OPTIONS',
    'These apply to every command.',
    ...GLOBAL_HELP.flatMap(optionItem),
    '.SH EXIT STATUS',
    ...EXIT_CODES_HELP.flatMap((line) => ['.PP', roff(line)]),
    '.SH FILES',
    ...[
      [
        DEFAULT_CONFIG_FILE,
        `the configuration (INI): sections ${sections.join(', ')}, every key shown with its default`,
      ],
      [SCHEMA.s3.credentials_file.default, 'S3 credentials, readable by root alone'],
      [
        `${SCHEMA.paths.state_dir.default}/runs/ID/`,
        'one run: its journal, images, logs and report',
      ],
      [
        `${input.unitDir}/kernel-leap-auto.timer`,
        'leaps to a newly installed kernel inside the [auto] window; off until enabled',
      ],
      [
        `${input.unitDir}/kernel-leap-upload.timer`,
        'ships the logs of runs whose upload failed; off until enabled',
      ],
    ].flatMap(([path, what]) => ['.TP', `.I ${roff(path ?? '')}`, roff(what ?? '')]),
    '.SH ENVIRONMENT',
    '.TP',
    '.B KERNEL_LEAP_CONFIG',
    roff(`the configuration file instead of ${DEFAULT_CONFIG_FILE}`),
    '.TP',
    '.B KERNEL_LEAP_\\fISECTION\\fB_\\fIKEY\\fR',
    roff(
      'overrides one key of the configuration, e.g. KERNEL_LEAP_S3_BUCKET; --set section.key=value overrides both',
    ),
    '.SH SEE ALSO',
    SEE_ALSO.map((page) => `.BR ${page.replace('(', ' (')}`).join(' ,\n'),
    '',
  ].join('\n');
}

/** Every spelling of a command's options, the global ones included: --json, -v, ... */
function optionWords(options: OptionSpec): string[] {
  return Object.entries(options).flatMap(([long, spec]) => [
    `--${long}`,
    ...(spec.short ? [`-${spec.short}`] : []),
  ]);
}

/** Options whose next word is their value: nothing is offered after them but, for files, a file. */
function valueOptions(typed: readonly Command[]): string[] {
  const withValue = (options: OptionSpec): OptionSpec =>
    Object.fromEntries(Object.entries(options).filter(([, spec]) => spec.type === 'string'));
  const words = [GLOBAL_OPTIONS, ...typed.map((c) => c.options)].flatMap((options) =>
    optionWords(withValue(options)),
  );
  return [...new Set(words)];
}

const FILE_OPTIONS = ['--config', '--record'];

/**
 * A bash function for `complete -F`: the command names first (after any global
 * option), then that command's options; after `help`, the command names. It needs
 * nothing from the bash-completion package.
 */
export function bashCompletion(commands: readonly Command[] = COMMANDS): string {
  const typed = typedCommands(commands);
  const names = typed.map((c) => c.name).join(' ');
  const globals = optionWords(GLOBAL_OPTIONS).join(' ');
  const globalValues = Object.entries(GLOBAL_OPTIONS)
    .filter(([, spec]) => spec.type === 'string')
    .map(([long]) => `--${long}`);
  const cases = typed.map(
    (c) =>
      `    ${c.name}) words='${optionWords({ ...c.options, ...GLOBAL_OPTIONS }).join(' ')}' ;;`,
  );
  return [
    '# bash completion for kernel-leap(8), generated from its command table.',
    '_kernel_leap() {',
    '  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} command= words i',
    "  # The command is the first word that is neither an option nor a global option's value.",
    '  for ((i = 1; i < COMP_CWORD; i++)); do',
    '    case ${COMP_WORDS[i]} in',
    `      ${globalValues.join('|')}) ((i++)) ;;`,
    '      -*) ;;',
    '      *) command=${COMP_WORDS[i]}; break ;;',
    '    esac',
    '  done',
    '  case $prev in',
    `    ${FILE_OPTIONS.join('|')}) COMPREPLY=($(compgen -f -- "$cur")); return ;;`,
    `    ${valueOptions(typed)
      .filter((o) => !FILE_OPTIONS.includes(o))
      .join('|')}) COMPREPLY=(); return ;;`,
    '  esac',
    '  case $command in',
    `    '') words='${names} help ${globals}' ;;`,
    `    help) words='${names}' ;;`,
    ...cases,
    '    *) words= ;;',
    '  esac',
    '  COMPREPLY=($(compgen -W "$words" -- "$cur"))',
    '}',
    'complete -F _kernel_leap kernel-leap',
    '',
  ].join('\n');
}
