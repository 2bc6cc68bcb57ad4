/** Verbs whose engine is not built yet: they parse their options, then say so and exit 4. */
import { ExitCode, LeapError } from '../../errors.js';
import type { Command, OptionSpec } from '../command.js';

export function notBuilt(name: string, summary: string, usage: string, options: OptionSpec, optionHelp: string[], issue: string): Command {
  return {
    name,
    summary,
    usage,
    options,
    optionHelp,
    async run() {
      throw new LeapError('NOT_IMPLEMENTED', `\`${name}\` is not implemented in this version of kernel-leap`, {
        hint: `it lands with ${issue}; nothing was changed on this machine`,
        exit: ExitCode.notImplemented,
      });
    },
  };
}
