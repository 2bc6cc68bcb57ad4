/**
 * The network stack of a guest: the bookworm bed boots on ifupdown, the trixie bed
 * on systemd-networkd with NetworkManager installed but disabled
 * (scripts/guest/build-image.sh), and what a leap's boot must show whichever
 * stack brings eth0 up.
 */
import { expect } from 'vitest';

import { type NetworkStackName, STACK_UNITS } from '../../src/tools/network-stack.js';
import { pollUntil } from './poll.js';
import type { VmClient } from './vm-client.js';

/** The stacks the test beds run: ifupdown (bookworm), systemd-networkd and NetworkManager (trixie). */
export type GuestStack = NetworkStackName;

const NETWORKD_UNITS =
  'systemd-networkd.service systemd-networkd.socket systemd-networkd-wait-online.service';

/**
 * Hands eth0 from systemd-networkd to NetworkManager as an administrator would:
 * networkd disabled and stopped, NetworkManager enabled and started, so that every
 * later boot (the leap's first) brings eth0 up with NetworkManager alone. No boot
 * of its own; detached, since the ssh connection that asks runs over eth0.
 */
export async function switchToNetworkManager(vm: VmClient): Promise<void> {
  await vm.run(
    `systemd-run --no-block --quiet --unit=kl-test-network-switch sh -c 'systemctl disable --now ${NETWORKD_UNITS} && systemctl enable --now NetworkManager.service'`,
  );
  await pollUntil(
    async () => {
      const devices = await vm
        .exec('nmcli -t -f DEVICE,STATE device', { timeoutMs: 20_000 })
        .catch(() => undefined);
      return devices && /^eth0:connected$/m.test(devices.stdout) ? true : undefined;
    },
    { timeoutMs: 120_000, intervalMs: 1000, what: 'NetworkManager to connect eth0' },
  );
}

/** Seconds after the kernel's start at which pid 1 logged `<prefix> <unit>` in this boot (natively or, before journald, through kmsg), if it did. */
async function systemdLoggedAt(
  vm: VmClient,
  prefix: 'Starting' | 'Finished',
  unit: string,
): Promise<number | undefined> {
  const line = await vm.run(
    `journalctl -b -o short-monotonic --no-pager SYSLOG_IDENTIFIER=systemd | grep -m1 -F ' systemd[1]: ${prefix} ${unit}' || true`,
  );
  const seconds = /^\[\s*(\d+\.\d+)\]/.exec(line.trim())?.[1];
  return seconds === undefined ? undefined : Number(seconds);
}

/**
 * On the boot a leap restored into: the lock rules were in before the stack's unit
 * even started, nothing flushed them before criu's restore (which then logs
 * "Iptables configuration failed", docs/criu-facts.md §3), and criu removed them after.
 */
export async function expectRulesHeldAcross(
  vm: VmClient,
  stack: GuestStack,
): Promise<{ rulesAt: number; stackAt: number }> {
  const rulesAt = await systemdLoggedAt(vm, 'Finished', 'kernel-leap-rules.service');
  const stackAt = await systemdLoggedAt(vm, 'Starting', STACK_UNITS[stack]);
  expect(rulesAt, 'kernel-leap-rules.service finished in this boot').toBeDefined();
  expect(stackAt, `${STACK_UNITS[stack]} started in this boot`).toBeDefined();
  expect(rulesAt).toBeLessThan(stackAt ?? 0);
  expect(
    await vm.run(
      'grep -c "Iptables configuration failed" /var/lib/kernel-leap/latest/logs/restore.log || true',
    ),
  ).toBe('0\n');
  expect((await vm.run('iptables-save | grep -c -i "mark 0xc114" || true')).trim()).toBe('0');
  return { rulesAt: rulesAt ?? 0, stackAt: stackAt ?? 0 };
}
