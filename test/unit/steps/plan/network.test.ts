import { describe, expect, it } from 'vitest';

import {
  addressPlan,
  needsIfupdownHook,
  networkStackNotes,
} from '../../../../src/steps/plan/network.js';
import type { NetworkStack } from '../../../../src/tools/network-stack.js';

describe('what the network stacks found mean for the lock rules', () => {
  it('names each stack, what it brings up, and which of its units starts after the lock rules', () => {
    expect(networkStackNotes([{ name: 'systemd-networkd', interfaces: ['eth0'] }])).toEqual([
      {
        level: 'ok',
        message:
          'systemd-networkd brings up eth0: the lock rules load before network-pre.target, which systemd-networkd.service starts after',
      },
    ]);
    expect(
      networkStackNotes([{ name: 'NetworkManager', interfaces: ['eth0', 'eth1'] }])[0]?.message,
    ).toMatch(
      /^NetworkManager brings up eth0, eth1: .* which NetworkManager\.service starts after$/,
    );
    expect(networkStackNotes([{ name: 'ifupdown', interfaces: ['eth0'] }])[0]?.message).toMatch(
      /networking\.service starts after; an if-pre-up\.d hook loads them too/,
    );
  });

  it('warns, with what to check, when no known stack brings an interface up or one could not be asked', () => {
    const [none] = networkStackNotes([]);
    expect(none).toMatchObject({
      level: 'warn',
      message: expect.stringMatching(/^no known network stack brings up an interface here/),
      hint: expect.stringContaining('After=network-pre.target'),
    });
    const [unknown] = networkStackNotes([
      { name: 'NetworkManager', interfaces: [], error: 'nmcli timed out' },
    ]);
    expect(unknown).toMatchObject({
      level: 'warn',
      message: 'NetworkManager: could not tell which interfaces it brings up: nmcli timed out',
    });
  });

  it('installs the ifupdown hook only where ifupdown brings interfaces up, or could not be asked', () => {
    expect(
      needsIfupdownHook([
        { name: 'ifupdown', interfaces: ['eth0'] },
        { name: 'NetworkManager', interfaces: ['wlan0'] },
      ]),
    ).toBe(true);
    expect(
      needsIfupdownHook([{ name: 'ifupdown', interfaces: [], error: 'ifquery: killed' }]),
    ).toBe(true);
    expect(needsIfupdownHook([{ name: 'systemd-networkd', interfaces: ['eth0'] }])).toBe(false);
    expect(needsIfupdownHook([])).toBe(false);
  });
});

describe('which dumped addresses the restore puts back itself, before the network stack', () => {
  const ifupdown = [{ name: 'ifupdown' as const, interfaces: ['eth0'] }];
  const lease = { ip: '10.0.2.15', prefix: 24, dev: 'eth0', dynamic: true };
  const facts = (dynamic = true) => ({
    addresses: [
      { ip: '127.0.0.1', prefix: 8, dev: 'lo', dynamic: false },
      { ...lease, dynamic },
    ],
    routes: [{ dev: 'eth0', gateway: '10.0.2.2', metric: undefined }],
  });

  it("puts back ifupdown's lease with its interface's default route, and says so; loopback needs nothing", () => {
    const plan = addressPlan(['10.0.2.15', '127.0.0.1', '10.0.2.15'], facts(), ifupdown, true);
    expect(plan.early).toEqual([
      { ip: '10.0.2.15', prefix: 24, dev: 'eth0', gateway: '10.0.2.2', metric: undefined },
    ]);
    expect(plan.notes).toEqual([
      {
        level: 'ok',
        message:
          '10.0.2.15/24 on eth0: put back at boot once the lock rules are in, with its default route via 10.0.2.2, before ifupdown takes the same lease; found on another interface then, the restore waits for ifupdown instead',
      },
    ]);
  });

  it('reads an IPv4 address an IPv6 socket holds (::ffff:a00:20f) as the dotted one it is', () => {
    expect(addressPlan(['::ffff:a00:20f'], facts(), ifupdown, true).early[0]?.ip).toBe('10.0.2.15');
  });

  it('leaves every other address to its network stack, with the reason on the plan line', () => {
    const why = (
      ips: string[],
      interfaces: ReturnType<typeof facts> | undefined,
      stacks: NetworkStack[],
      enabled = true,
    ) => {
      const plan = addressPlan(ips, interfaces, stacks, enabled);
      expect(plan.early).toEqual([]);
      return plan.notes.map((n) => n.message.replace(/^.*: the restore waits for .*?: /, ''));
    };
    expect(why(['10.0.2.15'], facts(false), ifupdown)).toEqual([
      'a static address, which ifup adds itself and fails on one already there',
    ]);
    expect(
      why(['10.0.2.15'], facts(), [{ name: 'systemd-networkd', interfaces: ['eth0'] }]),
    ).toEqual(['systemd-networkd removes an address it did not set']);
    expect(why(['10.0.2.15'], facts(), [{ name: 'NetworkManager', interfaces: ['eth0'] }])).toEqual(
      ['NetworkManager configures eth0 itself'],
    );
    expect(why(['10.0.2.15'], facts(), [])).toEqual(['no known network stack brings eth0 up']);
    expect(why(['10.0.2.99'], facts(), ifupdown)).toEqual(['it is on no interface now']);
    expect(why(['10.0.2.15'], undefined, ifupdown)).toEqual(['ip could not list the interfaces']);
    expect(why(['fd00::5'], facts(), ifupdown)).toEqual([
      'an IPv6 address is checked for duplicates before use',
    ]);
    expect(why(['10.0.2.15'], facts(), ifupdown, false)).toEqual([
      'restore.early_addresses is off',
    ]);
  });
});
