/**
 * What the network stacks found mean for the dumped connections: their lock
 * rules must be in force before any stack configures an address, or the peer's
 * retransmits meet a closed port and get RST (docs/criu-facts.md §2). check and plan
 * print one line per stack.
 */
import type { EarlyAddress } from '../../state/manifest.js';
import { type InterfaceFacts, plainIp } from '../../tools/ip.js';
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

/** Each dumped local address: put up early at boot, or left to the network stack, with one plan line each. */
export interface AddressPlan {
  early: EarlyAddress[];
  notes: StackNote[];
}

/**
 * The sessions need their local addresses and the lock rules, not a finished
 * DHCP exchange: an address ifupdown leased is put back on its interface once
 * the rules are in, and the restore goes on without waiting for the network
 * stack. When dhclient then binds the same lease its `ip addr add` finds the
 * address there and it goes on to the routes; its first renewal sets the lease's
 * lifetime on it. Every other address waits for its stack, as the plan says: a
 * static one (ifup fails on an address already there), systemd-networkd's (it
 * removes an address it did not set), NetworkManager's, IPv6 (its duplicate
 * check), and one on no interface now.
 */
export function addressPlan(
  localIps: readonly string[],
  interfaces: InterfaceFacts | undefined,
  stacks: readonly NetworkStack[] | undefined,
  enabled: boolean,
): AddressPlan {
  const out: AddressPlan = { early: [], notes: [] };
  for (const ip of new Set(localIps.map(plainIp))) {
    if (isLoopback(ip)) continue;
    const decided = decideAddress(ip, interfaces, stacks ?? [], enabled);
    if ('early' in decided) {
      out.early.push(decided.early);
      out.notes.push({ level: 'ok', message: earlyLine(decided.early) });
    } else {
      out.notes.push({
        level: 'ok',
        message: `${ip}: the restore waits for the network stack to bring it up: ${decided.why}`,
      });
    }
  }
  return out;
}

function isLoopback(ip: string): boolean {
  return ip.startsWith('127.') || ip === '::1';
}

function decideAddress(
  ip: string,
  interfaces: InterfaceFacts | undefined,
  stacks: readonly NetworkStack[],
  enabled: boolean,
): { early: EarlyAddress } | { why: string } {
  if (!enabled) return { why: 'restore.early_addresses is off' };
  if (ip.includes(':')) return { why: 'an IPv6 address is checked for duplicates before use' };
  if (!interfaces) return { why: 'ip could not list the interfaces' };
  const held = interfaces.addresses.find((a) => a.ip === ip);
  if (!held) return { why: 'it is on no interface now' };
  const stack = stacks.find((s) => s.interfaces.includes(held.dev));
  if (!stack) return { why: `no known network stack brings ${held.dev} up` };
  if (stack.name === 'systemd-networkd')
    return { why: 'systemd-networkd removes an address it did not set' };
  if (stack.name === 'NetworkManager')
    return { why: `NetworkManager configures ${held.dev} itself` };
  if (!held.dynamic)
    return { why: `a static address, which ifup adds itself and fails on one already there` };
  const route = interfaces.routes.find((r) => r.dev === held.dev);
  return {
    early: {
      ip,
      prefix: held.prefix,
      dev: held.dev,
      ...(route ? { gateway: route.gateway, metric: route.metric } : {}),
    },
  };
}

function earlyLine(a: EarlyAddress): string {
  const route = a.gateway ? `, with its default route via ${a.gateway}` : '';
  return `${a.ip}/${a.prefix} on ${a.dev}: put back at boot once the lock rules are in${route}, before ifupdown takes the same lease; found on another interface then, the restore waits for ifupdown instead`;
}
