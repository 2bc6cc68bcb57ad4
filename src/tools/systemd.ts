/** systemd adapter: transient units, enabling installed units, verification. */
import type { Runner } from './runner.js';

export interface TransientUnit {
  unit: string;
  command: readonly string[];
  properties?: readonly string[];
  description?: string;
}

/** Starts a transient service without waiting: it runs outside the caller's cgroup and session. */
export async function startTransientService(runner: Runner, unit: TransientUnit): Promise<void> {
  const properties = (unit.properties ?? []).flatMap((p) => ['-p', p]);
  const description = unit.description ? [`--description=${unit.description}`] : [];
  await runner.run({ file: 'systemd-run', args: [`--unit=${unit.unit}`, '--collect', '--no-block', '--quiet', ...description, ...properties, '--', ...unit.command], timeoutMs: 30_000 });
}

/** Argv that runs `command` in a new transient scope (its own cgroup), in the foreground. */
export function scopeArgv(unit: string, command: readonly string[]): string[] {
  return ['systemd-run', '--scope', `--unit=${unit}`, '--collect', '--quiet', '--', ...command];
}

export async function enableUnits(runner: Runner, units: readonly string[]): Promise<void> {
  await runner.run({ file: 'systemctl', args: ['enable', '--quiet', ...units], timeoutMs: 60_000 });
}

export async function disableUnits(runner: Runner, units: readonly string[]): Promise<void> {
  await runner.run({ file: 'systemctl', args: ['disable', '--quiet', ...units], okCodes: [0, 1], timeoutMs: 60_000 });
}

export async function daemonReload(runner: Runner): Promise<void> {
  await runner.run({ file: 'systemctl', args: ['daemon-reload'], timeoutMs: 60_000 });
}

export async function verifyUnits(runner: Runner, files: readonly string[]): Promise<string> {
  const result = await runner.run({ file: 'systemd-analyze', args: ['verify', ...files], okCodes: [0, 1], timeoutMs: 60_000 });
  return result.exitCode === 0 ? '' : result.stderr.trim() || result.stdout.trim();
}
