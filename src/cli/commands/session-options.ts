/** Options shared by the verbs that pick a session: --pid, --tty, --all-ssh. */
import { ExitCode, isLeapError, LeapError } from '../../errors.js';
import { sessionLogin, type SessionRoot, sessionRootOf } from '../../steps/plan/discover.js';
import { describeLoss, leftBehind, type Loss } from '../../steps/plan/losses.js';
import { liveProc } from '../../tools/procfs.js';
import type { OptionSpec, ParsedValues } from '../command.js';

export const SESSION_OPTIONS = {
  pid: { type: 'string' },
  tty: { type: 'string' },
  'all-ssh': { type: 'boolean' },
  'allow-loss': { type: 'boolean' },
} as const satisfies OptionSpec;

export const SESSION_HELP = [
  '--pid PID        a process of the session (default: this one)',
  '--tty pts/N      the session on this pty',
  '--all-ssh        every ssh session',
  "--allow-loss     go on although another user's ssh session would be lost",
];

export interface SessionSelector {
  pid?: number;
  tty?: string;
  allSsh: boolean;
}

export function sessionSelector(values: ParsedValues): SessionSelector {
  const given = ['pid', 'tty', 'all-ssh'].filter(
    (key) => values[key] !== undefined && values[key] !== false,
  );
  if (given.length > 1) {
    throw new LeapError('USAGE', `--${given.join(' and --')} pick the session in different ways`, {
      hint: 'pass one of --pid, --tty, --all-ssh (none: the session you type in)',
      exit: ExitCode.usage,
    });
  }
  const pid = values.pid === undefined ? undefined : Number(values.pid);
  if (pid !== undefined && (!Number.isInteger(pid) || pid <= 0)) {
    throw new LeapError('USAGE', `--pid ${String(values.pid)} is not a process id`, {
      hint: 'pass a positive integer, e.g. --pid $$',
      exit: ExitCode.usage,
    });
  }
  const tty = typeof values.tty === 'string' ? values.tty.replace(/^\/dev\//, '') : undefined;
  if (tty !== undefined && !/^pts\/\d+$/.test(tty)) {
    throw new LeapError('USAGE', `--tty ${tty} is not a pty`, {
      hint: 'pass it as pts/N (see `tty`)',
      exit: ExitCode.usage,
    });
  }
  return { ...(pid ? { pid } : {}), ...(tty ? { tty } : {}), allSsh: values['all-ssh'] === true };
}

/** The root of the session this command runs in; none when it runs outside any (a console, a CI job). */
function ownSessionRoot(): number | undefined {
  try {
    return sessionRootOf(liveProc, process.pid).pid;
  } catch (error) {
    if (isLeapError(error) && error.code === 'NOT_IN_SESSION') return undefined;
    throw error;
  }
}

export interface LossCheck {
  losses: Loss[];
  /** Another user's session would be lost and the user did not accept it. */
  refused: boolean;
  text: string;
}

/** What the kexec would end that these sessions do not carry, and whether that stops the leap. */
export function checkLosses(roots: readonly SessionRoot[], values: ParsedValues): LossCheck {
  const own = ownSessionRoot();
  const losses = leftBehind(
    liveProc,
    roots.map((r) => r.pid),
    own === undefined ? undefined : sessionLogin(liveProc, own).user,
    new Set([process.pid]),
  );
  const refused = values['allow-loss'] !== true && losses.some((l) => l.level === 'fail');
  const lines = losses.map((l) => `${l.level}   lost  ${describeLoss(l)}`);
  if (refused)
    lines.push(
      '',
      "verdict: no-go: another user's ssh session would be lost; --all-ssh carries it, --allow-loss accepts losing it",
    );
  return {
    losses,
    refused,
    text: lines.length
      ? ['what the kexec ends and this leap does not carry:', ...lines].join('\n')
      : '',
  };
}
