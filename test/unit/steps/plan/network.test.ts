import { describe, expect, it } from 'vitest';

import { needsIfupdownHook, networkStackNotes } from '../../../../src/steps/plan/network.js';

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
