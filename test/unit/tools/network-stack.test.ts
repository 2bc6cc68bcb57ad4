import { describe, expect, it } from 'vitest';

import { LeapError } from '../../../src/errors.js';
import {
  ifupdownInterfaces,
  networkdInterfaces,
  networkManagerInterfaces,
  networkStacks,
} from '../../../src/tools/network-stack.js';
import {
  ScriptedRunner,
  STACK_PROBE_OUTPUT,
  withActiveStacks,
  withNetworkStack,
} from '../../helpers/flow.js';

const missing = (tool: string) => () => {
  throw new LeapError('TOOL_MISSING', `${tool} is not installed`);
};

describe('which network stack brings the interfaces up', () => {
  it.each(['ifupdown', 'systemd-networkd', 'NetworkManager'] as const)(
    'finds %s bringing up eth0, from its own tool, the others not installed',
    async (stack) => {
      const runner = withNetworkStack(new ScriptedRunner(), stack);
      expect(await networkStacks(runner)).toEqual([{ name: stack, interfaces: ['eth0'] }]);
    },
  );

  it('names every stack that brings an interface up, and none whose tool finds nothing but lo', async () => {
    const runner = withActiveStacks(
      new ScriptedRunner(),
      'ifupdown',
      'systemd-networkd',
      'NetworkManager',
    )
      .on(['ifquery', '--state'], () => ({ stdout: 'lo=lo\n' }))
      .on(['networkctl'], () => ({ stdout: STACK_PROBE_OUTPUT['systemd-networkd'].stdout }))
      .on(['nmcli'], () => ({
        stdout: 'eth1:connected\neth0:unmanaged\nlo:connected (externally)\n',
      }));
    expect(await networkStacks(runner)).toEqual([
      { name: 'systemd-networkd', interfaces: ['eth0'] },
      { name: 'NetworkManager', interfaces: ['eth1'] },
    ]);
  });

  it('finds none when no stack brings anything up: networkd running but managing nothing, NetworkManager starting with nothing yet', async () => {
    const runner = withActiveStacks(new ScriptedRunner(), 'systemd-networkd', 'NetworkManager')
      .on(['networkctl'], () => ({
        stdout: '  1 lo   loopback carrier  unmanaged\n  2 eth0 ether    routable unmanaged\n',
      }))
      .on(['nmcli'], () => ({ stdout: 'eth0:disconnected\nlo:connected (externally)\n' }));
    expect(await networkStacks(runner)).toEqual([]);
  });

  it('does not ask a stack whose unit is not active: a stopped networkd still says configured', async () => {
    const runner = withActiveStacks(new ScriptedRunner(), 'NetworkManager')
      .on(['networkctl'], () => ({ stdout: STACK_PROBE_OUTPUT['systemd-networkd'].stdout }))
      .on(['nmcli'], () => ({ stdout: STACK_PROBE_OUTPUT.NetworkManager.stdout }));
    expect(await networkStacks(runner)).toEqual([{ name: 'NetworkManager', interfaces: ['eth0'] }]);
    expect(runner.callsOf(['systemctl', 'is-active'])).toEqual([
      [
        'systemctl',
        'is-active',
        'networking.service',
        'systemd-networkd.service',
        'NetworkManager.service',
      ],
    ]);
    expect(runner.callsOf(['networkctl'])).toEqual([]);
  });

  it('asks every stack when systemctl cannot say which units run (no systemd as pid 1)', async () => {
    const runner = new ScriptedRunner()
      .on(['systemctl', 'is-active'], () => ({
        exitCode: 1,
        stderr: "System has not been booted with systemd as init system (PID 1). Can't operate.",
      }))
      .on(['ifquery'], () => ({ stdout: STACK_PROBE_OUTPUT.ifupdown.stdout }))
      .on(['networkctl'], missing('networkctl'))
      .on(['nmcli'], () => ({ exitCode: 8, stderr: 'Error: NetworkManager is not running.\n' }));
    expect(await networkStacks(runner)).toEqual([{ name: 'ifupdown', interfaces: ['eth0'] }]);
  });

  it('reports a stack whose tool is there but fails, as unknown rather than absent', async () => {
    const runner = withActiveStacks(new ScriptedRunner(), 'systemd-networkd')
      .on(['ifquery'], missing('ifquery'))
      .on(['networkctl'], () => ({ exitCode: 1, stderr: 'Failed to connect to bus' }))
      .on(['nmcli'], missing('nmcli'));
    expect(await networkStacks(runner)).toEqual([
      {
        name: 'systemd-networkd',
        interfaces: [],
        error: expect.stringContaining('Failed to connect to bus'),
      },
    ]);
  });
});

describe('reading each tool', () => {
  it('ifquery --state: the physical name of each interface ifup brought up', () => {
    expect(ifupdownInterfaces('lo=lo\neth0=eth0\nwlan0=home\n')).toEqual(['eth0', 'wlan0']);
    expect(ifupdownInterfaces('')).toEqual([]);
  });

  it('networkctl list: links networkd configures, not the unmanaged ones', () => {
    expect(
      networkdInterfaces(
        '  1 lo   loopback carrier     unmanaged\n  2 eth0 ether    routable    configured\n  3 eth1 ether    no-carrier  configuring\n  4 eth2 ether    off         unmanaged\n',
      ),
    ).toEqual(['eth0', 'eth1']);
  });

  it('nmcli device: devices NetworkManager connected or is connecting, not one connected by someone else', () => {
    expect(
      networkManagerInterfaces(
        'eth0:connected\neth1:connecting (getting IP configuration)\neth2:connected (externally)\neth3:disconnected\nlo:connected (externally)\n',
      ),
    ).toEqual(['eth0', 'eth1']);
  });
});
