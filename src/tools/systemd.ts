/** systemd adapter: transient units, enabling installed units, verification. */
import type { Runner } from './runner.js';

type ExecArgv = readonly [string, ...string[]];

export interface TransientUnit {
  unit: string;
  /** An absolute executable, then its arguments. */
  command: ExecArgv;
  /** KillMode=process, SendSIGHUP=no: the service outlives what it was started from. */
  detached: boolean;
  description: string;
  /** Run when the service has stopped, however it ended (ExecStopPost=). */
  stopPost?: ExecArgv;
  /** Bounds the stop, ExecStopPost= included (TimeoutStopSec=; systemd's default is 90 s). */
  stopTimeoutS?: number;
  /** OOMScoreAdjust=: what the unit starts inherits it (-1000: the OOM killer never picks it). */
  oomScoreAdjust?: number;
  /**
   * systemd-run talks to systemd's private socket and refuses a peer whose pid it
   * cannot see ("Failed to connect to bus: No data available"): true from inside a
   * restored session's pid namespace. Then the system bus (dbus-daemon) carries the call.
   */
  viaSystemBus: boolean;
}

/** Starts a transient service without waiting: it runs outside the caller's cgroup and session. */
export async function startTransientService(runner: Runner, unit: TransientUnit): Promise<void> {
  const args = unit.viaSystemBus ? startTransientUnitCall(unit) : systemdRunArgs(unit);
  await runner.run({ file: unit.viaSystemBus ? 'busctl' : 'systemd-run', args, timeoutMs: 30_000 });
}

/**
 * systemd expands $VAR in every Exec*= argument when it runs the command, however
 * the unit was made (systemd-run only learnt --expand-environment=no in v254).
 */
function literal(argv: ExecArgv): string[] {
  return argv.map((word) => word.replaceAll('$', '$$$$'));
}

function systemdRunArgs(unit: TransientUnit): string[] {
  const detached = unit.detached ? ['-p', 'KillMode=process', '-p', 'SendSIGHUP=no'] : [];
  // systemd-run splits a property's command line with C-style unquoting.
  const stopPost = unit.stopPost
    ? [
        '-p',
        `ExecStopPost=${literal(unit.stopPost)
          .map((word) => JSON.stringify(word))
          .join(' ')}`,
      ]
    : [];
  const stopTimeout =
    unit.stopTimeoutS === undefined ? [] : ['-p', `TimeoutStopSec=${unit.stopTimeoutS}`];
  const oom =
    unit.oomScoreAdjust === undefined ? [] : ['-p', `OOMScoreAdjust=${unit.oomScoreAdjust}`];
  return [
    `--unit=${unit.unit}`,
    '--collect',
    '--no-block',
    '--quiet',
    `--description=${unit.description}`,
    ...detached,
    ...stopPost,
    ...stopTimeout,
    ...oom,
    '--',
    ...literal(unit.command),
  ];
}

/** The same as systemdRunArgs, as busctl's typed arguments to Manager.StartTransientUnit. */
function startTransientUnitCall(unit: TransientUnit): string[] {
  const properties = [
    ['Description', 's', unit.description],
    ['CollectMode', 's', 'inactive-or-failed'],
    execProperty('ExecStart', unit.command),
    ...(unit.detached
      ? [
          ['KillMode', 's', 'process'],
          ['SendSIGHUP', 'b', 'false'],
        ]
      : []),
    ...(unit.stopPost ? [execProperty('ExecStopPost', unit.stopPost)] : []),
    ...(unit.stopTimeoutS === undefined
      ? []
      : [['TimeoutStopUSec', 't', String(unit.stopTimeoutS * 1_000_000)]]),
    ...(unit.oomScoreAdjust === undefined
      ? []
      : [['OOMScoreAdjust', 'i', String(unit.oomScoreAdjust)]]),
  ];
  // `--` first: busctl's getopt would take the command's own options ("-c") as its.
  return [
    '--quiet',
    '--',
    'call',
    'org.freedesktop.systemd1',
    '/org/freedesktop/systemd1',
    'org.freedesktop.systemd1.Manager',
    'StartTransientUnit',
    'ssa(sv)a(sa(sv))',
    `${unit.unit}.service`,
    'fail',
    String(properties.length),
    ...properties.flat(),
    '0',
  ];
}

/** One command as an a(sasb) property: path, argv, and whether a failure is ignored. */
function execProperty(name: string, argv: ExecArgv): string[] {
  return [name, 'a(sasb)', '1', argv[0], String(argv.length), ...literal(argv), 'false'];
}

/** Argv that runs `command` in a new transient scope (its own cgroup), in the foreground. */
export function scopeArgv(unit: string, command: readonly string[]): string[] {
  return ['systemd-run', '--scope', `--unit=${unit}`, '--collect', '--quiet', '--', ...command];
}

export async function enableUnits(runner: Runner, units: readonly string[]): Promise<void> {
  await runner.run({ file: 'systemctl', args: ['enable', '--quiet', ...units], timeoutMs: 60_000 });
}

/** reload false: `--no-reload`, systemd keeps the units as it loaded them (see removeBootArtefacts). */
export async function disableUnits(
  runner: Runner,
  units: readonly string[],
  options: { reload?: boolean } = {},
): Promise<void> {
  const noReload = options.reload === false ? ['--no-reload'] : [];
  await runner.run({
    file: 'systemctl',
    args: ['disable', ...noReload, '--quiet', ...units],
    okCodes: [0, 1],
    timeoutMs: 60_000,
  });
}

export async function daemonReload(runner: Runner): Promise<void> {
  await runner.run({ file: 'systemctl', args: ['daemon-reload'], timeoutMs: 60_000 });
}

export async function verifyUnits(runner: Runner, files: readonly string[]): Promise<string> {
  const result = await runner.run({
    file: 'systemd-analyze',
    args: ['verify', ...files],
    okCodes: [0, 1],
    timeoutMs: 60_000,
  });
  return result.exitCode === 0 ? '' : result.stderr.trim() || result.stdout.trim();
}
