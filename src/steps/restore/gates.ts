/**
 * The gates the restore waits on: devpts, the lock rules, and every dumped local
 * address (docs/criu-facts.md §4: without it, soccr cannot bind the socket back).
 * The restore script polls them, each with address_timeout on the time since boot
 * (templates/restore-tree.sh.hbs); here is only what its timeout says.
 */
import { ExitCode, type LeapError } from '../../errors.js';
import { timedOut } from '../../tools/wait.js';

/** The journal mark each gate's opening takes, which is also why the script gives up on it. */
export const GATE_MARKS = ['gate.devpts', 'gate.rules', 'gate.addresses'] as const;
export type GateMark = (typeof GATE_MARKS)[number];

interface Gate {
  what: string;
  hint: string;
}

function gate(mark: GateMark, addresses: readonly string[]): Gate {
  switch (mark) {
    case 'gate.devpts':
      return {
        what: '/dev/pts',
        hint: 'devpts is not mounted; is this a normal systemd boot?',
      };
    case 'gate.rules':
      return {
        what: 'the lock rules to be loaded',
        hint: 'kernel-leap-rules.service did not run; see `journalctl -u kernel-leap-rules`',
      };
    case 'gate.addresses':
      return {
        what: `local addresses ${addresses.join(', ')}`,
        hint: 'check that the network config gives this host the same address after boot, or raise [restore] address_timeout',
      };
  }
}

/** The gate's own error, for a wait the restore script timed out on. */
export function gateTimedOut(
  mark: GateMark,
  addresses: readonly string[],
  timeoutMs: number,
): LeapError {
  const { what, hint } = gate(mark, addresses);
  return timedOut(timeoutMs, what, hint, { code: 'GATE_TIMEOUT', exit: ExitCode.restoreFailed });
}
