/**
 * The engine's flows run in-process: a scripted runner answers each command by
 * argv prefix and records every call in order (an unscripted command throws), a
 * scratch tree stands in for the host's paths, and the session is a real process
 * tree on this machine (so a SIGCONT, a stopped task or a pid are real).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { Output } from '../../src/cli/output.js';
import { loadConfig } from '../../src/config/load.js';
import type { EngineContext } from '../../src/engine/context.js';
import { LeapError } from '../../src/errors.js';
import type { HostPaths } from '../../src/tools/host-paths.js';
import { type NetworkStackName, STACK_UNITS } from '../../src/tools/network-stack.js';
import type { Runner, RunRequest, RunResult } from '../../src/tools/runner.js';

type Answer = Partial<Pick<RunResult, 'stdout' | 'stderr' | 'exitCode'>> | undefined | void;
type Handler = (argv: string[], request: RunRequest) => Answer | Promise<Answer>;

export class ScriptedRunner implements Runner {
  readonly calls: string[][] = [];
  private readonly rules: Array<{ prefix: string[]; handle: Handler }> = [];

  /** Answers commands that start with prefix; a later rule for the same prefix wins. */
  on(prefix: string[], handle: Handler = () => undefined): this {
    this.rules.unshift({ prefix, handle });
    return this;
  }

  /** The handler a command with exactly this prefix gets now: a later rule can wrap it. */
  handlerFor(prefix: string[]): Handler {
    const rule = this.rules.find((r) => r.prefix.join('\0') === prefix.join('\0'));
    if (!rule) throw new Error(`no rule for ${prefix.join(' ')}`);
    return rule.handle;
  }

  /** Every run shares the script and the calls in order; nothing is logged. */
  loggingTo(): Runner {
    return this;
  }

  async run(request: RunRequest): Promise<RunResult> {
    const argv = [request.file, ...(request.args ?? [])];
    this.calls.push(argv);
    const rule = this.rules.find((r) => startsWith(argv, r.prefix));
    if (!rule) throw new Error(`unscripted command: ${argv.join(' ')}`);
    const answer = (await rule.handle(argv, request)) ?? {};
    const result = { argv, exitCode: 0, stdout: '', stderr: '', durationMs: 1, ...answer };
    if (!(request.okCodes ?? [0]).includes(result.exitCode))
      throw new LeapError(
        'COMMAND_FAILED',
        `${argv[0]} exited with ${result.exitCode}: ${result.stderr}`,
      );
    return result;
  }

  /** Index of the first call that starts with prefix, -1 if none. */
  indexOf(prefix: string[]): number {
    return this.calls.findIndex((argv) => startsWith(argv, prefix));
  }

  /** Index of the last call that starts with prefix, -1 if none. */
  lastIndexOf(prefix: string[]): number {
    return this.calls.findLastIndex((argv) => startsWith(argv, prefix));
  }

  callsOf(prefix: string[]): string[][] {
    return this.calls.filter((argv) => startsWith(argv, prefix));
  }
}

function startsWith(argv: readonly string[], prefix: readonly string[]): boolean {
  return prefix.every((word, i) => argv[i] === word);
}

/** The value after a flag in an argv (`-D dir`). */
export function flagValue(argv: readonly string[], flag: string): string | undefined {
  const i = argv.indexOf(flag);
  return i === -1 ? undefined : argv[i + 1];
}

export const OLD_KERNEL = '6.1.0-55-cloud-amd64';
export const NEW_KERNEL = '6.1.0-56-cloud-amd64';
export const NEWEST_KERNEL = '6.1.0-57-cloud-amd64';

/** The scratch host's boot id: the boot a flow test's restore runs in. */
export const SCRATCH_BOOT_ID = '0b5e6a1c-0000-4000-8000-00000000b007';

/** A scratch tree for the host's paths: /boot with three kernels, the unit dir, /proc/sys with window scaling on. */
export function scratchHost(): HostPaths {
  const root = mkdtempSync(join(tmpdir(), 'kl-host-'));
  const host: HostPaths = {
    unitDir: join(root, 'etc/systemd/system'),
    ifupdownHook: join(root, 'etc/network/if-pre-up.d/kernel-leap'),
    rulesMarker: join(root, 'run/kernel-leap/rules-loaded'),
    boot: join(root, 'boot'),
    kexecLoaded: join(root, 'sys/kernel/kexec_loaded'),
    // The resume walks the real trees of the fake launches.
    proc: '/proc',
    procCmdline: join(root, 'proc/cmdline'),
    procBootId: join(root, 'proc/sys/kernel/random/boot_id'),
    procSys: join(root, 'proc/sys'),
    savedSysctls: join(root, 'run/kernel-leap/sysctl'),
    pathsLock: join(root, 'run/kernel-leap/paths.lock'),
    udevData: join(root, 'run/udev/data'),
    rebootRequired: join(root, 'run/reboot-required'),
  };
  for (const dir of [
    host.unitDir,
    join(root, 'etc/network'),
    host.boot,
    join(root, 'sys/kernel'),
    join(host.procSys, 'net/ipv4'),
    join(host.procSys, 'kernel'),
    join(root, 'run/kernel-leap'),
  ])
    mkdirSync(dir, { recursive: true });
  for (const version of [OLD_KERNEL, NEWEST_KERNEL, NEW_KERNEL]) {
    writeFileSync(join(host.boot, `vmlinuz-${version}`), '');
    writeFileSync(join(host.boot, `initrd.img-${version}`), '');
  }
  writeFileSync(host.kexecLoaded, '0\n');
  writeFileSync(join(host.procSys, 'kernel/osrelease'), `${OLD_KERNEL}\n`);
  writeFileSync(
    host.procCmdline,
    'BOOT_IMAGE=/boot/vmlinuz-6.1.0-55-cloud-amd64 root=/dev/vda1 ro console=ttyS0\n',
  );
  writeFileSync(windowScalingPath(host), '1\n');
  mkdirSync(dirname(host.procBootId), { recursive: true });
  writeFileSync(host.procBootId, `${SCRATCH_BOOT_ID}\n`);
  return host;
}

export function windowScalingPath(host: HostPaths): string {
  return join(host.procSys, 'net/ipv4/tcp_window_scaling');
}

export function readTrimmed(path: string): string {
  return readFileSync(path, 'utf8').trim();
}

/** A context with the shipped config (only the state dir moved), quiet output and the scratch host. */
export function flowContext(
  runner: Runner,
  host: HostPaths = scratchHost(),
): EngineContext & { stateDir: string } {
  const stateDir = mkdtempSync(join(tmpdir(), 'kl-state-'));
  const config = loadConfig({
    env: {},
    file: undefined,
    overrides: [`paths.state_dir=${stateDir}`],
  }).config;
  const sink = { write: () => true } as unknown as NodeJS.WritableStream;
  return { runner, config, out: new Output(false, false, sink, sink), host, stateDir };
}

/** A session stand-in: a real process that holds a TCP connection to a server on loopback (and `holding`, a file open for append, if given). */
export interface FakeSession {
  process: ChildProcess;
  pid: number;
  /** The connection as the plan sees it from the session's side. */
  local: { ip: string; port: number };
  peer: { ip: string; port: number };
  end(): void;
}

export async function startSession(holding?: string): Promise<FakeSession> {
  const server: Server = createServer((socket) => socket.on('error', () => undefined));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const accepted = new Promise<{ ip: string; port: number }>((resolve) =>
    server.once('connection', (s) => resolve({ ip: '127.0.0.1', port: s.remotePort as number })),
  );
  const hold = holding === undefined ? '' : `f = open(${JSON.stringify(holding)}, "a")\n`;
  const code = `import socket, time\n${hold}s = socket.create_connection(("127.0.0.1", ${port}))\ntime.sleep(600)\n`;
  const child = spawn('python3', ['-c', code], { stdio: 'ignore', detached: true });
  const local = await accepted;
  return {
    process: child,
    pid: child.pid as number,
    local,
    peer: { ip: '127.0.0.1', port },
    end: () => {
      try {
        process.kill(-(child.pid as number), 'SIGKILL');
      } catch {
        // already gone: the fake criu dump ends the tree as the real one does
      }
      server.close();
    },
  };
}

/** The two DROP rules criu inserts for a connection, as iptables-save -c prints them. */
export function lockRulesSaved(
  local: { ip: string; port: number },
  peer: { ip: string; port: number },
): string {
  return [
    '*filter',
    ':INPUT ACCEPT [0:0]',
    `[0:0] -A INPUT -s ${peer.ip}/32 -d ${local.ip}/32 -p tcp -m tcp --sport ${peer.port} --dport ${local.port} -m mark ! --mark 0xc114 -j DROP`,
    `[0:0] -A OUTPUT -s ${local.ip}/32 -d ${peer.ip}/32 -p tcp -m tcp --sport ${local.port} --dport ${peer.port} -m mark ! --mark 0xc114 -j DROP`,
    'COMMIT',
    '',
  ].join('\n');
}

/** What each stack's tool prints where that stack brought eth0 up (and lo, which is no stack's). */
export const STACK_PROBE_OUTPUT: Record<NetworkStackName, { argv: string[]; stdout: string }> = {
  ifupdown: { argv: ['ifquery', '--state'], stdout: 'lo=lo\neth0=eth0\n' },
  'systemd-networkd': {
    argv: ['networkctl', 'list'],
    stdout: '  1 lo   loopback carrier  unmanaged\n  2 eth0 ether    routable configured\n',
  },
  NetworkManager: { argv: ['nmcli', '-t'], stdout: 'eth0:connected\nlo:connected (externally)\n' },
};

/** `systemctl is-active` of the stacks' units, as on a machine that runs these stacks. */
export function withActiveStacks<R extends ScriptedRunner>(
  runner: R,
  ...stacks: NetworkStackName[]
): R {
  const running = new Set(stacks.map((stack) => STACK_UNITS[stack]));
  return runner.on(['systemctl', 'is-active'], (argv) => {
    const states = argv.slice(2).map((unit) => (running.has(unit) ? 'active' : 'inactive'));
    return {
      stdout: `${states.join('\n')}\n`,
      exitCode: states.every((s) => s === 'active') ? 0 : 3,
    };
  });
}

/** The stack probes as on a machine where `stack` brings up eth0 and the other stacks are not installed. */
export function withNetworkStack<R extends ScriptedRunner>(runner: R, stack: NetworkStackName): R {
  withActiveStacks(runner, stack);
  for (const [name, probe] of Object.entries(STACK_PROBE_OUTPUT)) {
    runner.on(probe.argv.slice(0, 1), () => {
      if (name !== stack) throw new LeapError('TOOL_MISSING', `${probe.argv[0]} is not installed`);
      return { stdout: probe.stdout };
    });
  }
  return runner;
}

/** What a stopped task reads in /proc/PID/status. */
export function taskState(pid: number): string | undefined {
  try {
    return /^State:\s+(\S)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  } catch {
    return undefined;
  }
}
