/**
 * The interfaces' IPv4 addresses and default routes, as iproute2 reports them
 * (`ip -j`): which interface holds each local address a dumped connection uses,
 * whether it is a lease (it has a lifetime) or static, and the gateway by which
 * the interface reaches the rest of the network.
 */
import * as z from 'zod/mini';

import type { Runner } from './runner.js';

export interface InterfaceAddress {
  ip: string;
  prefix: number;
  dev: string;
  /** A lease's (DHCP): the kernel counts its lifetime down. A static one is kept forever. */
  dynamic: boolean;
}

export interface DefaultRoute {
  dev: string;
  gateway: string;
  metric: number | undefined;
}

export interface InterfaceFacts {
  addresses: InterfaceAddress[];
  routes: DefaultRoute[];
}

// ip prints `{}` for a link with no address of the family asked.
const addrSchema = z.array(
  z.object({
    ifname: z.optional(z.string()),
    addr_info: z.optional(
      z.array(
        z.object({
          family: z.optional(z.string()),
          local: z.optional(z.string()),
          prefixlen: z.optional(z.number()),
          dynamic: z.optional(z.boolean()),
          valid_life_time: z.optional(z.number()),
        }),
      ),
    ),
  }),
);

/** The lifetime ip reports for an address kept forever. */
const FOREVER = 4294967295;

const routeSchema = z.array(
  z.object({
    dst: z.string(),
    gateway: z.optional(z.string()),
    dev: z.optional(z.string()),
    metric: z.optional(z.number()),
  }),
);

/** What `ip -j -4 addr show` and `ip -j -4 route show default` say; undefined when ip cannot be asked. */
export async function interfaceFacts(runner: Runner): Promise<InterfaceFacts | undefined> {
  const ask = (args: string[]) =>
    runner.run({ file: 'ip', args: ['-j', '-4', ...args], timeoutMs: 20_000 });
  try {
    const [addr, route] = await Promise.all([
      ask(['addr', 'show']),
      ask(['route', 'show', 'default']),
    ]);
    return {
      addresses: parseAddresses(addr.stdout),
      routes: parseDefaultRoutes(route.stdout),
    };
  } catch {
    return undefined;
  }
}

export function parseAddresses(stdout: string): InterfaceAddress[] {
  return addrSchema.parse(JSON.parse(stdout)).flatMap(({ ifname, addr_info = [] }) =>
    addr_info.flatMap((a) =>
      ifname !== undefined &&
      a.family === 'inet' &&
      a.local !== undefined &&
      a.prefixlen !== undefined
        ? [
            {
              ip: a.local,
              prefix: a.prefixlen,
              dev: ifname,
              dynamic: a.dynamic === true || (a.valid_life_time ?? FOREVER) < FOREVER,
            },
          ]
        : [],
    ),
  );
}

export function parseDefaultRoutes(stdout: string): DefaultRoute[] {
  return routeSchema
    .parse(JSON.parse(stdout))
    .flatMap((r) =>
      r.dst === 'default' && r.gateway !== undefined && r.dev !== undefined
        ? [{ dev: r.dev, gateway: r.gateway, metric: r.metric }]
        : [],
    );
}

/** An IPv4 address an IPv6 socket holds as `::ffff:a00:20f` (as /proc/net/tcp6 reads), dotted; any other as it is. */
export function plainIp(ip: string): string {
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(ip);
  if (!mapped) return ip;
  const [high, low] = [parseInt(mapped[1] as string, 16), parseInt(mapped[2] as string, 16)];
  return [high >> 8, high & 255, low >> 8, low & 255].join('.');
}
