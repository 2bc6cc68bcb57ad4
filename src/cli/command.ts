/** The shape every subcommand module exports, and the context main.ts hands it. */
import type { ParseArgsConfig } from 'node:util';

import type { LoadConfigOptions } from '../config/load.js';
import type { Config } from '../config/schema.js';
import type { EngineContext } from '../engine/context.js';
import type { Runner } from '../tools/runner.js';
import type { Output } from './output.js';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;
export type ParsedValues = Record<string, string | boolean | string[] | boolean[] | undefined>;

export interface CommandContext extends EngineContext {
  config: Config;
  configFile: string | undefined;
  /** Env and flag overrides (`section.key=value`); a worker process gets them as --set. */
  configOverrides: string[];
  runner: Runner;
  out: Output;
}

export interface Command {
  name: string;
  summary: string;
  usage: string;
  /** One line per option for --help, in the order shown. */
  optionHelp: readonly string[];
  options: OptionSpec;
  allowPositionals?: boolean;
  /** Refused with exit 6 before it runs when not root. */
  needsRoot: boolean;
  /**
   * Where its config comes from instead of --config, --set and the environment:
   * the worker's, from the file its foreground wrote (state/worker-input.ts).
   */
  configFrom?(values: ParsedValues): LoadConfigOptions;
  /** Started by kernel-leap itself, never typed: left out of the manual page and the completion. */
  internal?: boolean;
  run(ctx: CommandContext, values: ParsedValues, positionals: string[]): Promise<number>;
}
