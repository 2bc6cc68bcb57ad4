/** Options shared by the verbs that pick a session: --pid, --tty, --all-ssh. */
import { ExitCode, LeapError } from '../../errors.js';
import type { OptionSpec, ParsedValues } from '../command.js';

export const SESSION_OPTIONS = {
  pid: { type: 'string' },
  tty: { type: 'string' },
  'all-ssh': { type: 'boolean' },
} as const satisfies OptionSpec;

export const SESSION_HELP = [
  '--pid PID        a process of the session (default: this one)',
  '--tty pts/N      the session on this pty',
  '--all-ssh        every ssh session',
];

export interface SessionSelector {
  pid?: number;
  tty?: string;
  allSsh: boolean;
}

export function sessionSelector(values: ParsedValues): SessionSelector {
  const given = ['pid', 'tty', 'all-ssh'].filter((key) => values[key] !== undefined && values[key] !== false);
  if (given.length > 1) {
    throw new LeapError('USAGE', `--${given.join(' and --')} pick the session in different ways`, { hint: 'pass one of --pid, --tty, --all-ssh (none: the session you type in)', exit: ExitCode.usage });
  }
  const pid = values.pid === undefined ? undefined : Number(values.pid);
  if (pid !== undefined && (!Number.isInteger(pid) || pid <= 0)) {
    throw new LeapError('USAGE', `--pid ${String(values.pid)} is not a process id`, { hint: 'pass a positive integer, e.g. --pid $$', exit: ExitCode.usage });
  }
  const tty = typeof values.tty === 'string' ? values.tty.replace(/^\/dev\//, '') : undefined;
  if (tty !== undefined && !/^pts\/\d+$/.test(tty)) {
    throw new LeapError('USAGE', `--tty ${tty} is not a pty`, { hint: 'pass it as pts/N (see `tty`)', exit: ExitCode.usage });
  }
  return { ...(pid ? { pid } : {}), ...(tty ? { tty } : {}), allSsh: values['all-ssh'] === true };
}
