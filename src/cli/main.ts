/**
 * argv -> command. Parses the global flags and the subcommand's own, loads the
 * config, and is the ONE place that catches errors and maps them to exit codes.
 */
import { parseArgs } from 'node:util';

import pkg from '../../package.json' with { type: 'json' };
import { loadConfig } from '../config/load.js';
import { ExitCode, isLeapError, LeapError } from '../errors.js';
import { createOwnerOnly } from '../state/owner-only.js';
import { HOST_PATHS } from '../tools/host-paths.js';
import { printableLines } from '../tools/printable.js';
import { ExecaRunner } from '../tools/runner.js';
import type { Command, OptionSpec, ParsedValues } from './command.js';
import { COMMANDS } from './commands/index.js';
import { commandHelp, mainHelp } from './help.js';
import { launcherWords } from './launcher-words.js';
import { Output } from './output.js';
import { didYouMean } from './suggest.js';

/** package.json's, bundled at build time: the build carries no package.json. */
export const VERSION = pkg.version;

export const GLOBAL_OPTIONS: OptionSpec = {
  json: { type: 'boolean' },
  verbose: { type: 'boolean', short: 'v' },
  config: { type: 'string' },
  set: { type: 'string', multiple: true },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'V' },
};

/** `typed`: the command line's words; none when the launcher moved them to a file (launcher-words.ts). */
export async function main(typed: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  createOwnerOnly();
  let out = outputFor(typed);
  try {
    const argv = launcherWords(typed, env);
    out = outputFor(argv);
    return await dispatch(argv, out);
  } catch (error) {
    const leap = isLeapError(error)
      ? error
      : new LeapError('INTERNAL', error instanceof Error ? error.message : String(error), {
          hint: 'this is a bug; rerun with --verbose and report it',
          cause: error,
        });
    out.error({ code: leap.code, message: leap.message, hint: leap.hint });
    if (out.verbose && leap.cause instanceof Error && leap.cause.stack)
      process.stderr.write(`${printableLines(leap.cause.stack)}\n`);
    return leap.exit;
  }
}

function outputFor(argv: readonly string[]): Output {
  return new Output(argv.includes('--json'), argv.includes('--verbose') || argv.includes('-v'));
}

/** Global options that take the next word as their value (`--set a.b=c status`). */
const GLOBAL_VALUES = new Set(['--config', '--set']);

/** Where the command's name is: the first word that is neither an option nor a global option's value. */
function commandIndex(argv: readonly string[]): number {
  return argv.findIndex(
    (arg, i) => !arg.startsWith('-') && !(i > 0 && GLOBAL_VALUES.has(argv[i - 1] as string)),
  );
}

function requireRoot(command: Command): void {
  if (command.needsRoot && process.getuid?.() !== 0) {
    throw new LeapError(
      'NOT_ROOT',
      `kernel-leap ${command.name} needs root: the state dir, CRIU, kexec and systemd are root's`,
      { hint: `rerun as root: sudo kernel-leap ${command.name}`, exit: ExitCode.notRoot },
    );
  }
}

async function dispatch(argv: string[], out: Output): Promise<number> {
  const at = commandIndex(argv);
  const name = at === -1 ? undefined : argv[at];
  if (name === undefined) return withoutCommand(argv);
  if (name === 'help') return helpAbout(argv[at + 1]);
  const command = findCommand(name);
  const rest = argv.filter((_, i) => i !== at);
  const { values, positionals } = parseCommandArgs(command, rest);
  if (values.help) return print(commandHelp(command));
  if (values.version) return print(`kernel-leap ${VERSION}`);
  requireRoot(command);
  const { config, file, overrides } = loadConfig(
    command.configFrom?.(values as ParsedValues) ?? {
      file: values.config as string | undefined,
      overrides: (values.set as string[] | undefined) ?? [],
    },
  );
  return command.run(
    {
      config,
      configFile: file,
      configOverrides: overrides,
      runner: new ExecaRunner(),
      out,
      host: HOST_PATHS,
    },
    values as ParsedValues,
    positionals,
  );
}

/** `kernel-leap [--version | --help]`: global options alone, strictly. */
function withoutCommand(argv: string[]): number {
  const { values } = parseOptions('kernel-leap', GLOBAL_OPTIONS, argv, false);
  return print(values.version ? `kernel-leap ${VERSION}` : mainHelp(COMMANDS));
}

/** `kernel-leap help [COMMAND]`. */
function helpAbout(name: string | undefined): number {
  return print(name === undefined ? mainHelp(COMMANDS) : commandHelp(findCommand(name)));
}

function findCommand(name: string): Command {
  const command = COMMANDS.find((c) => c.name === name);
  if (command) return command;
  const names = COMMANDS.map((c) => c.name);
  const guess = didYouMean(name, names);
  throw new LeapError('USAGE', `unknown command "${name}"${guess ? `: ${guess}` : ''}`, {
    hint: `commands: ${names.join(', ')}; see: kernel-leap --help`,
    exit: ExitCode.usage,
  });
}

function parseCommandArgs(command: Command, args: string[]) {
  return parseOptions(
    `kernel-leap ${command.name}`,
    { ...GLOBAL_OPTIONS, ...command.options },
    args,
    command.allowPositionals ?? false,
  );
}

/** parseArgs, strict, its errors turned into usage errors that name the nearest option. */
function parseOptions(
  usage: string,
  options: OptionSpec,
  args: string[],
  allowPositionals: boolean,
) {
  try {
    return parseArgs({ args, options, allowPositionals, strict: true });
  } catch (cause) {
    throw new LeapError('USAGE', usageMessage(usage, options, cause as Error), {
      hint: `see: ${usage} --help`,
      exit: ExitCode.usage,
    });
  }
}

function usageMessage(usage: string, options: OptionSpec, error: Error): string {
  const unknown = /^Unknown option '([^']+)'/.exec(error.message)?.[1];
  if (unknown === undefined) return `${usage}: ${error.message}`;
  const known = Object.entries(options).flatMap(([long, spec]) => [
    `--${long}`,
    ...(spec.short ? [`-${spec.short}`] : []),
  ]);
  const guess = didYouMean(unknown, known);
  return `${usage}: unknown option "${unknown}"${guess ? `: ${guess}` : ''}`;
}

function print(text: string): number {
  process.stdout.write(`${text}\n`);
  return ExitCode.ok;
}
