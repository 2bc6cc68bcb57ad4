/**
 * Which network stack brings this host's interfaces up: each stack whose unit is
 * active is asked, with its own tool, which interfaces other than lo it
 * configured. A stack whose unit is not active, or whose tool is missing, runs
 * nothing here (a stopped networkd's state files in /run still say `configured`).
 */
import { isLeapError } from '../errors.js';
import type { Runner } from './runner.js';

export type NetworkStackName = 'ifupdown' | 'systemd-networkd' | 'NetworkManager';

export interface NetworkStack {
  name: NetworkStackName;
  /** The interfaces it brought up (or is bringing up), lo left out. */
  interfaces: string[];
  /** Set when its tool is there but failed: whether it brings anything up is unknown. */
  error?: string;
}

/** Each stack's service: active (or starting) when the stack runs on this boot. */
export const STACK_UNITS: Record<NetworkStackName, string> = {
  ifupdown: 'networking.service',
  'systemd-networkd': 'systemd-networkd.service',
  NetworkManager: 'NetworkManager.service',
};

interface StackProbe {
  name: NetworkStackName;
  file: string;
  args: string[];
  /** nmcli exits 8 when NetworkManager is not running: nothing brought up. */
  okCodes: number[];
  interfaces(stdout: string): string[];
}

const PROBES: readonly StackProbe[] = [
  {
    name: 'ifupdown',
    file: 'ifquery',
    args: ['--state'],
    okCodes: [0, 1],
    interfaces: ifupdownInterfaces,
  },
  {
    name: 'systemd-networkd',
    file: 'networkctl',
    args: ['list', '--no-legend', '--no-pager'],
    okCodes: [0],
    interfaces: networkdInterfaces,
  },
  {
    name: 'NetworkManager',
    file: 'nmcli',
    args: ['-t', '-f', 'DEVICE,STATE', 'device'],
    okCodes: [0, 8],
    interfaces: networkManagerInterfaces,
  },
];

/** The stacks that bring up an interface, and those that could not be asked. */
export async function networkStacks(runner: Runner): Promise<NetworkStack[]> {
  const running = await runningStacks(runner);
  const found = await Promise.all(running.map((probe) => askStack(runner, probe)));
  return found.filter(
    (stack): stack is NetworkStack =>
      stack !== undefined && (stack.interfaces.length > 0 || stack.error !== undefined),
  );
}

const RUNNING = new Set(['active', 'activating', 'reloading']);

/**
 * `systemctl is-active` prints one state per unit, in order; it exits 3 when one
 * is not active. Without its answer (no systemd as pid 1) every stack is asked.
 */
async function runningStacks(runner: Runner): Promise<readonly StackProbe[]> {
  const args = ['is-active', ...PROBES.map((probe) => STACK_UNITS[probe.name])];
  const result = await runner
    .run({ file: 'systemctl', args, okCodes: [0, 3, 4], timeoutMs: 20_000 })
    .catch(() => undefined);
  if (!result) return PROBES;
  const states = result.stdout.split('\n').map((line) => line.trim());
  return PROBES.filter((_, i) => RUNNING.has(states[i] ?? ''));
}

async function askStack(runner: Runner, probe: StackProbe): Promise<NetworkStack | undefined> {
  try {
    const result = await runner.run({
      file: probe.file,
      args: probe.args,
      okCodes: probe.okCodes,
      timeoutMs: 20_000,
    });
    return { name: probe.name, interfaces: probe.interfaces(result.stdout) };
  } catch (error) {
    if (isLeapError(error) && error.code === 'TOOL_MISSING') return undefined;
    return {
      name: probe.name,
      interfaces: [],
      error: error instanceof Error ? error.message : String(error),
    };
  }
}

const notLoopback = (name: string | undefined): name is string =>
  name !== undefined && name !== '' && name !== 'lo';

/** `ifquery --state`: one `iface=logical` line per interface ifup brought up. */
export function ifupdownInterfaces(stdout: string): string[] {
  return stdout
    .split('\n')
    .map((line) => line.split('=')[0]?.trim())
    .filter(notLoopback);
}

// networkd's setup states for a link it manages; `unmanaged` and `n/a` are not its.
const NETWORKD_SETUP = new Set(['pending', 'initialized', 'configuring', 'configured', 'failed']);

/** `networkctl list --no-legend`: IDX LINK TYPE OPERATIONAL SETUP. */
export function networkdInterfaces(stdout: string): string[] {
  return stdout
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter((cols) => NETWORKD_SETUP.has(cols[4] ?? ''))
    .map((cols) => cols[1])
    .filter(notLoopback);
}

/** `nmcli -t -f DEVICE,STATE device`: `eth0:connected`; `connected (externally)` is someone else's. */
export function networkManagerInterfaces(stdout: string): string[] {
  return stdout
    .split('\n')
    .map((line) => /^(.+):(connect(?:ed|ing)(?! \(externally\)).*)$/.exec(line.trim())?.[1])
    .filter(notLoopback);
}
