/**
 * Boots a disposable guest from the cached image: a qcow2 overlay per guest (the
 * base stays clean), a free loopback port forwarded to sshd, the serial console in
 * a log file. KVM is tried briefly and TCG is the fallback; the choice is cached.
 * Every guest is killed on every exit path of the test process.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { cacheRoot, ensureImage, type GuestImage } from './guest-image.js';
import { requireCommand } from './require.js';

export type Accel = 'kvm' | 'tcg';

export interface ExecResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

const live = new Set<ChildProcess>();
const killAll = () => live.forEach((p) => p.kill('SIGKILL'));
process.once('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => { killAll(); process.exit(130); });

export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => done(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export function sshOptions(image: GuestImage, port: number): string[] {
  return [
    '-i', image.key, '-p', String(port),
    '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR',
    '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=5',
    // No client keepalive timeouts: a session stays frozen for a minute or two across the kexec.
    '-o', 'ServerAliveInterval=0', '-o', 'TCPKeepAlive=no',
  ];
}

export class Guest {
  readonly dir: string;
  readonly serialLog: string;
  private qemu: ChildProcess | undefined;

  constructor(readonly image: GuestImage, readonly port: number, readonly accel: Accel) {
    this.dir = mkdtempSync(join(tmpdir(), 'kl-guest-'));
    this.serialLog = join(this.dir, 'serial.log');
  }

  start(): void {
    const overlay = join(this.dir, 'overlay.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', this.image.disk, overlay]);
    this.qemu = spawn('qemu-system-x86_64', qemuArgs(this.image, overlay, this.port, this.serialLog, this.accel), { stdio: ['ignore', 'ignore', 'pipe'] });
    live.add(this.qemu);
    this.qemu.once('exit', () => this.qemu && live.delete(this.qemu));
  }

  get running(): boolean {
    return this.qemu !== undefined && this.qemu.exitCode === null && this.qemu.signalCode === null;
  }

  serialTail(lines = 40): string {
    return existsSync(this.serialLog) ? readFileSync(this.serialLog, 'utf8').split('\n').slice(-lines).join('\n') : '(no serial log)';
  }

  async exec(command: string, timeoutMs = 120_000): Promise<ExecResult> {
    const r = await execa('ssh', [...sshOptions(this.image, this.port), 'root@127.0.0.1', command], { reject: false, timeout: timeoutMs, stdin: 'ignore' });
    return { stdout: String(r.stdout), stderr: String(r.stderr), exitCode: r.exitCode ?? -1 };
  }

  /** exec() that throws with the output when the command fails. */
  async run(command: string, timeoutMs = 120_000): Promise<string> {
    const r = await this.exec(command, timeoutMs);
    if (r.exitCode !== 0) throw new Error(`guest command failed (${r.exitCode}): ${command}\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
  }

  async copyIn(local: string, remote: string): Promise<void> {
    await execa('scp', [...sshOptions(this.image, this.port).map((o) => (o === '-p' ? '-P' : o)), local, `root@127.0.0.1:${remote}`]);
  }

  async copyOut(remote: string, local: string): Promise<void> {
    await execa('scp', [...sshOptions(this.image, this.port).map((o) => (o === '-p' ? '-P' : o)), `root@127.0.0.1:${remote}`, local]);
  }

  /** Polls sshd with a deadline; on timeout fails with the serial console's tail. */
  async waitForSsh(timeoutMs = 180_000): Promise<number> {
    const started = Date.now();
    while (Date.now() - started < timeoutMs) {
      if (!this.running) throw new Error(`qemu exited while waiting for sshd\n--- serial ---\n${this.serialTail()}`);
      if ((await this.exec('true', 15_000)).exitCode === 0) return Date.now() - started;
      await new Promise((r) => setTimeout(r, 1000));
    }
    throw new Error(`sshd did not answer within ${timeoutMs / 1000} s\n--- serial ---\n${this.serialTail()}`);
  }

  async shutdown(): Promise<void> {
    if (this.running) {
      this.qemu?.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 500));
      if (this.running) this.qemu?.kill('SIGKILL');
    }
    rmSync(join(this.dir, 'overlay.qcow2'), { force: true });
  }
}

function qemuArgs(image: GuestImage, overlay: string, port: number, serialLog: string, accel: Accel): string[] {
  const cpu = accel === 'kvm' ? ['-accel', 'kvm', '-cpu', 'host'] : ['-accel', 'tcg', '-cpu', 'max'];
  return [
    ...cpu, '-smp', '2', '-m', '2048', '-display', 'none', '-monitor', 'none', '-no-reboot',
    '-kernel', image.kernel, '-initrd', image.initrd,
    '-append', 'root=/dev/vda rw console=ttyS0 net.ifnames=0',
    '-drive', `file=${overlay},if=virtio,format=qcow2`,
    '-netdev', `user,id=n0,hostfwd=tcp:127.0.0.1:${port}-:22`, '-device', 'virtio-net-pci,netdev=n0',
    '-serial', `file:${serialLog}`,
  ];
}

/** KVM is tried once per host for a few seconds (it must print the kernel's first line); the answer is cached. */
export async function chooseAccel(image: GuestImage): Promise<Accel> {
  const cache = join(cacheRoot(), `accel-${release()}.txt`);
  if (existsSync(cache)) return readFileSync(cache, 'utf8').trim() as Accel;
  let accel: Accel = 'tcg';
  if (existsSync('/dev/kvm')) {
    const probe = new Guest(image, await freePort(), 'kvm');
    probe.start();
    const deadline = Date.now() + 8000;
    while (Date.now() < deadline && probe.running && !/Linux version/.test(probe.serialTail(200))) await new Promise((r) => setTimeout(r, 250));
    if (probe.running && /Linux version/.test(probe.serialTail(200))) accel = 'kvm';
    await probe.shutdown();
    rmSync(probe.dir, { recursive: true, force: true });
  }
  writeFileSync(cache, accel);
  return accel;
}

export interface BootedGuest {
  guest: Guest;
  bootToSshMs: number;
}

export async function bootGuest(log: (line: string) => void = () => undefined): Promise<BootedGuest> {
  requireCommand('qemu-system-x86_64', 'qemu-system-x86');
  requireCommand('qemu-img', 'qemu-utils');
  const image = ensureImage(log);
  const accel = await chooseAccel(image);
  const guest = new Guest(image, await freePort(), accel);
  guest.start();
  const bootToSshMs = await guest.waitForSsh();
  log(`guest up on 127.0.0.1:${guest.port} with ${accel} in ${(bootToSshMs / 1000).toFixed(1)} s`);
  return { guest, bootToSshMs };
}
