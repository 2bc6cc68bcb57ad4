/**
 * argv -> command. Parses the global flags and the subcommand's own, loads the
 * config, and is the ONE place that catches errors and maps them to exit codes.
 */
import { parseArgs } from 'node:util';

import { loadConfig } from '../config/load.js';
import { ExitCode, isLeapError, LeapError } from '../errors.js';
import { createOwnerOnly } from '../state/owner-only.js';
import { HOST_PATHS } from '../tools/host-paths.js';
import { ExecaRunner } from '../tools/runner.js';
import type { Command, OptionSpec, ParsedValues } from './command.js';
import { COMMANDS } from './commands/index.js';
import { commandHelp, mainHelp } from './help.js';
import { Output } from './output.js';

export const VERSION = '0.1.0';

const GLOBAL_OPTIONS: OptionSpec = {
  json: { type: 'boolean' },
  verbose: { type: 'boolean', short: 'v' },
  config: { type: 'string' },
  set: { type: 'string', multiple: true },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
};

export async function main(argv: string[]): Promise<number> {
  createOwnerOnly();
  const json = argv.includes('--json');
  const out = new Output(json, argv.includes('--verbose') || argv.includes('-v'));
  try {
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
      process.stderr.write(`${leap.cause.stack}\n`);
    return leap.exit;
  }
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
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    if (argv.includes('--version')) return print(`kernel-leap ${VERSION}`);
    if (name === undefined || name === 'help') return print(mainHelp(COMMANDS));
    throw new LeapError('USAGE', `unknown command "${name}"`, {
      hint: `commands: ${COMMANDS.map((c) => c.name).join(', ')}`,
      exit: ExitCode.usage,
    });
  }
  const rest = argv.filter((_, i) => i !== at);
  const { values, positionals } = parseCommandArgs(command, rest);
  if (values.help) return print(commandHelp(command));
  const { config, file, overrides } = loadConfig({
    file: values.config as string | undefined,
    overrides: (values.set as string[] | undefined) ?? [],
  });
  requireRoot(command);
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

function parseCommandArgs(command: Command, args: string[]) {
  try {
    return parseArgs({
      args,
      options: { ...GLOBAL_OPTIONS, ...command.options },
      allowPositionals: command.allowPositionals ?? false,
      strict: true,
    });
  } catch (cause) {
    throw new LeapError('USAGE', `${command.name}: ${(cause as Error).message}`, {
      hint: `see: kernel-leap ${command.name} --help`,
      exit: ExitCode.usage,
    });
  }
}

function print(text: string): number {
  process.stdout.write(`${text}\n`);
  return ExitCode.ok;
}
