/**
 * A long-lived interactive ssh session with a pty, opened from the host. Every
 * output line carries a host-side timestamp, so a test can measure the gap the
 * session saw across a dump, a kexec and a restore.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import type { Guest } from './guest.js';
import { sshOptions } from './guest.js';

export interface Line {
  at: number;
  text: string;
}

export class LiveSession {
  readonly lines: Line[] = [];
  private readonly ssh: ChildProcessWithoutNullStreams;
  private partial = '';

  constructor(guest: Guest, command?: string) {
    const args = [...sshOptions(guest.image, guest.port), '-tt', 'root@127.0.0.1', ...(command ? [command] : [])];
    this.ssh = spawn('ssh', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const take = (chunk: Buffer) => this.take(chunk.toString('utf8'));
    this.ssh.stdout.on('data', take);
    this.ssh.stderr.on('data', take);
  }

  private take(text: string): void {
    const parts = (this.partial + text).split(/\r?\n/);
    this.partial = parts.pop() ?? '';
    const at = Date.now();
    for (const part of parts) this.lines.push({ at, text: part.replace(/\r/g, '') });
  }

  write(text: string): void {
    this.ssh.stdin.write(text);
  }

  get exited(): boolean {
    return this.ssh.exitCode !== null || this.ssh.signalCode !== null;
  }

  text(): string {
    return this.lines.map((l) => l.text).join('\n');
  }

  /** Polls for a line matching `pattern` after index `from`, with a deadline. */
  async waitFor(pattern: RegExp, timeoutMs: number, from = 0): Promise<Line> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const found = this.lines.slice(from).find((l) => pattern.test(l.text));
      if (found) return found;
      if (this.exited) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`no line matching ${pattern} within ${timeoutMs / 1000} s; session ${this.exited ? 'exited' : 'open'}; last lines:\n${this.lines.slice(-15).map((l) => l.text).join('\n')}`);
  }

  /** The longest pause between consecutive lines matching `pattern`. */
  longestGap(pattern: RegExp): { ms: number; before?: Line; after?: Line } {
    const ticks = this.lines.filter((l) => pattern.test(l.text));
    let best: { ms: number; before?: Line; after?: Line } = { ms: 0 };
    for (let i = 1; i < ticks.length; i++) {
      const a = ticks[i - 1] as Line;
      const b = ticks[i] as Line;
      if (b.at - a.at > best.ms) best = { ms: b.at - a.at, before: a, after: b };
    }
    return best;
  }

  close(): void {
    this.ssh.kill('SIGKILL');
  }
}

export const BUNDLE = resolve('dist/kernel-leap.mjs');
export const LAUNCHER = resolve('scripts/kernel-leap');

/** Installs the bundle under test and its launcher, so the guest runs this very code. */
export async function installKernelLeap(guest: Guest, config = '[kexec]\nverify_checksums = false\n'): Promise<void> {
  await guest.copyIn(BUNDLE, '/tmp/kernel-leap.mjs');
  await guest.copyIn(LAUNCHER, '/tmp/kernel-leap');
  await guest.run(`install -D -m 0755 /tmp/kernel-leap.mjs /usr/local/lib/kernel-leap/kernel-leap.mjs && install -m 0755 /tmp/kernel-leap /usr/local/bin/kernel-leap && mkdir -p /etc/kernel-leap && printf '%s' '${config.replaceAll("'", "'\\''")}' > /etc/kernel-leap/kernel-leap.conf`);
}
