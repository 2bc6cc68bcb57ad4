/**
 * What the network stacks found mean for the dumped connections: their lock
 * rules must be in force before any stack configures an address, or the peer's
 * retransmits meet a closed port and get RST (docs/criu-facts.md §2). check and plan
 * print one line per stack.
 */
import type { NetworkStack, NetworkStackName } from '../../tools/network-stack.js';

export interface StackNote {
  level: 'ok' | 'warn';
  message: string;
  hint?: string;
}

// kernel-leap-rules.service is ordered Before=network-pre.target; each stack's own unit starts after it.
const STARTS_AFTER_RULES: Record<NetworkStackName, string> = {
  ifupdown:
    'which networking.service starts after; an if-pre-up.d hook loads them too, for ifup@ hotplug',
  'systemd-networkd': 'which systemd-networkd.service starts after',
  NetworkManager: 'which NetworkManager.service starts after',
};

const PROBED = 'ifupdown (ifquery), systemd-networkd (networkctl) and NetworkManager (nmcli)';

export function networkStackNotes(stacks: readonly NetworkStack[]): StackNote[] {
  if (stacks.length === 0) {
    return [
      {
        level: 'warn',
        message: `no known network stack brings up an interface here (asked ${PROBED})`,
        hint: 'the lock rules load before network-pre.target: whatever configures the dumped addresses must start after it (After=network-pre.target), or the peer gets RST',
      },
    ];
  }
  return stacks.map(stackNote);
}

function stackNote(stack: NetworkStack): StackNote {
  if (stack.error !== undefined) {
    return {
      level: 'warn',
      message: `${stack.name}: could not tell which interfaces it brings up: ${stack.error}`,
      hint: `the lock rules load before network-pre.target, ${STARTS_AFTER_RULES[stack.name]}; check that it configures the dumped addresses`,
    };
  }
  return {
    level: 'ok',
    message: `${stack.name} brings up ${stack.interfaces.join(', ')}: the lock rules load before network-pre.target, ${STARTS_AFTER_RULES[stack.name]}`,
  };
}

/** Only ifupdown runs if-pre-up.d hooks; one that could not be asked may still, so it gets the hook too. */
export function needsIfupdownHook(stacks: readonly NetworkStack[]): boolean {
  return stacks.some((stack) => stack.name === 'ifupdown');
}
