import { describe, expect, it } from 'vitest';

import { parseAddresses, parseDefaultRoutes, plainIp } from '../../../src/tools/ip.js';

describe("what ip says of the interfaces' addresses and default routes", () => {
  it('reads each IPv4 address with its interface and prefix, a lease told by its flag or its lifetime', () => {
    // As `ip -j -4 addr show` prints it: `{}` for a link without an IPv4 address.
    const stdout = JSON.stringify([
      {
        ifname: 'lo',
        addr_info: [
          { family: 'inet', local: '127.0.0.1', prefixlen: 8, valid_life_time: 4294967295 },
        ],
      },
      {
        ifname: 'eth0',
        addr_info: [
          { family: 'inet', local: '10.0.2.15', prefixlen: 24, dynamic: true },
          { family: 'inet', local: '10.0.3.15', prefixlen: 24, valid_life_time: 86000 },
          { family: 'inet', local: '192.0.2.7', prefixlen: 32, valid_life_time: 4294967295 },
        ],
      },
      {},
    ]);
    expect(parseAddresses(stdout)).toEqual([
      { ip: '127.0.0.1', prefix: 8, dev: 'lo', dynamic: false },
      { ip: '10.0.2.15', prefix: 24, dev: 'eth0', dynamic: true },
      { ip: '10.0.3.15', prefix: 24, dev: 'eth0', dynamic: true },
      { ip: '192.0.2.7', prefix: 32, dev: 'eth0', dynamic: false },
    ]);
  });

  it('reads the default routes with a gateway, each with its interface and metric', () => {
    const stdout = JSON.stringify([
      { dst: 'default', gateway: '10.0.2.2', dev: 'eth0', protocol: 'dhcp', flags: [] },
      { dst: 'default', gateway: '192.0.2.1', dev: 'eth1', metric: 100, flags: [] },
      { dst: 'default', dev: 'wg0', flags: [] },
    ]);
    expect(parseDefaultRoutes(stdout)).toEqual([
      { dev: 'eth0', gateway: '10.0.2.2', metric: undefined },
      { dev: 'eth1', gateway: '192.0.2.1', metric: 100 },
    ]);
  });

  it('reads an IPv4 address held by an IPv6 socket as the dotted one, and leaves any other be', () => {
    expect(plainIp('::ffff:a00:20f')).toBe('10.0.2.15');
    expect(plainIp('10.0.2.15')).toBe('10.0.2.15');
    expect(plainIp('fd00::5')).toBe('fd00::5');
  });
});
