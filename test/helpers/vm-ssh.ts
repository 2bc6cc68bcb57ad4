/**
 * ssh and scp into a guest through its forwarded loopback port. Everything here
 * takes a VmConnection, plain data that globalSetup can hand to test files.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

import { execa } from 'execa';

import { pollUntil } from './poll.js';
import type { Dist } from './vm-image.js';
import type { Accel } from './vm-qemu.js';
import { isRunning, qemuErrors } from './vm-qemu.js';

export interface VmConnection {
  dist: Dist;
  port: number;
  /** Private key for root and for `user`. */
  key: string;
  /** The non-root user (alice). */
  user: string;
  /** The operator (deploy): sudo makes them root, with no password, as Ansible's `become` does. */
  sudoer: string;
  /** The guest's temp dir: overlay, serial.log, qemu.log. */
  dir: string;
  serialLog: string;
  /** The qemu process. */
  pid: number;
  accel: Accel;
  oldKernel: string;
  newKernel: string;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/**
 * Options shared by ssh and scp. Control connections send keepalives every 10 s
 * and give up after 30 unanswered ones (5 minutes).
 */
export function sshOptions(c: VmConnection): string[] {
  return [...baseOptions(c), '-o', 'ServerAliveInterval=10', '-o', 'ServerAliveCountMax=30'];
}

function baseOptions(c: VmConnection): string[] {
  return [
    '-F',
    '/dev/null',
    '-i',
    c.key,
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    'StrictHostKeyChecking=no',
    '-o',
    'UserKnownHostsFile=/dev/null',
    '-o',
    'LogLevel=ERROR',
    '-o',
    'BatchMode=yes',
    '-o',
    'ConnectTimeout=10',
  ];
}

/**
 * A session that a leap carries sends no keepalives, so it never gives up on its
 * own while the guest is away: the test's deadline decides, and its post-mortem
 * says why. (Measured: QEMU's user network held a session whose guest dropped
 * every packet for 240 s, keepalives or not.)
 */
export function sessionSshArgs(c: VmConnection, user: string, ...remote: string[]): string[] {
  return [
    '-tt',
    ...baseOptions(c),
    '-o',
    'ServerAliveInterval=0',
    '-p',
    String(c.port),
    `${user}@127.0.0.1`,
    ...remote,
  ];
}

export function sshArgs(c: VmConnection, ...remote: string[]): string[] {
  return [...sshOptions(c), '-p', String(c.port), 'root@127.0.0.1', ...remote];
}

export interface GuestInput {
  timeoutMs?: number;
  /** The command's stdin, as text. */
  input?: string;
  /** The command's stdin, streamed from a host file (a .deb). */
  inputFile?: string;
}

/**
 * ssh's own failures before the command could run: no sshd listening yet, or one
 * that closed the connection before its banner. A leap brings the carried
 * sessions back before the new boot's sshd is up (their addresses go back early),
 * so a command right after a session is back can meet either.
 */
const SSHD_NOT_UP = /kex_exchange_identification|connect to host .* Connection refused/;
/** How long a command waits for the guest's sshd to come up. */
const SSHD_UP_WAIT_MS = 90_000;

/**
 * Runs `command` through the guest's shell; output as printed (final newline kept);
 * never throws on a non-zero exit. Run again while the guest's sshd is not up yet:
 * the command never ran then.
 */
export async function execInGuest(
  c: VmConnection,
  command: string,
  options: GuestInput = {},
): Promise<ExecResult> {
  const deadline = Date.now() + SSHD_UP_WAIT_MS;
  for (;;) {
    const r = await execOnce(c, command, options);
    if (r.exitCode !== 255 || !SSHD_NOT_UP.test(r.stderr) || Date.now() > deadline) return r;
    await delay(1000);
  }
}

/** One ssh: the pollers below use it, which check on QEMU between tries. */
async function execOnce(
  c: VmConnection,
  command: string,
  options: GuestInput,
): Promise<ExecResult> {
  const stdin =
    options.inputFile !== undefined
      ? { inputFile: options.inputFile }
      : options.input === undefined
        ? { stdin: 'ignore' as const }
        : { input: options.input };
  const r = await execa('ssh', sshArgs(c, command), {
    ...stdin,
    reject: false,
    stripFinalNewline: false,
    timeout: options.timeoutMs ?? 120_000,
  });
  const timedOut = r.timedOut ? `\n(ssh killed after ${options.timeoutMs ?? 120_000} ms)` : '';
  return {
    stdout: String(r.stdout),
    stderr: String(r.stderr) + timedOut,
    exitCode: r.exitCode ?? -1,
  };
}

/** execInGuest that throws, with both streams, unless the command exits 0; returns stdout. */
export async function runInGuest(
  c: VmConnection,
  command: string,
  options: GuestInput = {},
): Promise<string> {
  const r = await execInGuest(c, command, options);
  if (r.exitCode !== 0)
    throw new Error(
      `guest command failed (exit ${r.exitCode}): ${command}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`,
    );
  return r.stdout;
}

export async function copyIn(c: VmConnection, local: string, remote: string): Promise<void> {
  await execa(
    'scp',
    [...sshOptions(c), '-P', String(c.port), '-q', local, `root@127.0.0.1:${remote}`],
    { stdin: 'ignore' },
  );
}

export async function copyOut(c: VmConnection, remote: string, local: string): Promise<void> {
  await execa(
    'scp',
    [...sshOptions(c), '-P', String(c.port), '-q', `root@127.0.0.1:${remote}`, local],
    { stdin: 'ignore' },
  );
}

export function serialTail(c: VmConnection, lines = 40): string {
  return existsSync(c.serialLog)
    ? readFileSync(c.serialLog, 'utf8').split('\n').slice(-lines).join('\n')
    : '(no serial log)';
}

function diagnostics(c: VmConnection): string {
  const qemu = qemuErrors(c.dir);
  return `--- serial console (${c.serialLog}), last lines ---\n${serialTail(c)}${qemu ? `\n--- qemu (${join(c.dir, 'qemu.log')}) ---\n${qemu}` : ''}`;
}

/** Polls `ssh true` until sshd answers; fails at once if QEMU dies. Returns the ms it took. */
export async function waitForSsh(c: VmConnection, timeoutMs = 240_000): Promise<number> {
  const started = Date.now();
  await pollUntil(
    async () => {
      if (!isRunning(c.pid))
        throw new Error(`qemu (pid ${c.pid}) exited before sshd answered\n${diagnostics(c)}`);
      return (await execOnce(c, 'true', { timeoutMs: 20_000 })).exitCode === 0 ? true : undefined;
    },
    {
      timeoutMs,
      intervalMs: 1000,
      what: `sshd on 127.0.0.1:${c.port}`,
      detail: () => diagnostics(c),
    },
  );
  return Date.now() - started;
}

export async function readBootId(c: VmConnection): Promise<string> {
  return (await runInGuest(c, 'cat /proc/sys/kernel/random/boot_id')).trim();
}

/**
 * After a kexec: polls until the guest answers ssh from a boot other than
 * `previousBootId` (the old kernel may still answer for a moment after
 * `kexec -e` was started). Returns the new boot id and the ms it took.
 */
export async function waitForNewBoot(
  c: VmConnection,
  previousBootId: string,
  timeoutMs = 300_000,
): Promise<{ bootId: string; ms: number }> {
  const started = Date.now();
  const bootId = await pollUntil(
    async () => {
      if (!isRunning(c.pid))
        throw new Error(`qemu (pid ${c.pid}) exited while the guest rebooted\n${diagnostics(c)}`);
      const r = await execOnce(c, 'cat /proc/sys/kernel/random/boot_id', { timeoutMs: 20_000 });
      const id = r.stdout.trim();
      return r.exitCode === 0 && id !== previousBootId ? id : undefined;
    },
    {
      timeoutMs,
      intervalMs: 1000,
      what: `the guest to answer ssh from a new boot (previous boot ${previousBootId})`,
      detail: () => diagnostics(c),
    },
  );
  return { bootId, ms: Date.now() - started };
}

/**
 * Sets the guest's clock to the host's (a guest loaded from a saved state keeps
 * the clock of the save). ssh takes a second or more to connect under TCG, so
 * the host sends its time only when the guest's shell asks for it: what is left
 * is one trip through QEMU's user network. Returns the guest's clock minus the
 * host's as the guest reads it back (a few ms, the trip back included).
 */
export async function setGuestClock(c: VmConnection): Promise<number> {
  const child = execa(
    'ssh',
    sshArgs(c, 'echo now?; read t && date -u -s "@$t" >/dev/null && date +%s%N'),
    { stdin: 'pipe', timeout: 60_000 },
  );
  let output = '';
  let offsetMs = Number.NaN;
  child.stdout.on('data', (chunk: Buffer) => {
    const received = Date.now();
    if (!output) child.stdin.end(`${(received / 1000).toFixed(3)}\n`);
    output += chunk.toString('utf8');
    const guestNs = /^now\?\n(\d+)\n/.exec(output)?.[1];
    if (guestNs) offsetMs = Number(BigInt(guestNs) / 1_000_000n) - received;
  });
  await child;
  return offsetMs;
}
