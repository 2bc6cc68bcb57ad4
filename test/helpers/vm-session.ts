/**
 * A long-lived interactive ssh session with a pty (`ssh -tt`), opened from the
 * host. Each output line is stamped with host time as it arrives, so a test can
 * measure the pause a session saw across a dump, a kexec and a restore.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';

import { pollUntil } from './poll.js';
import { onProcessExit } from './vm-cleanup.js';
import { sessionSshArgs, type VmConnection } from './vm-ssh.js';

export interface StampedLine {
  /** The line without terminal escapes (bash's bracketed-paste marks, colours) or CR. */
  text: string;
  /** The line as the pty sent it, CR removed. */
  raw: string;
  /** Host wall clock (Date.now()) when the line arrived. */
  at: number;
  /** Host monotonic clock (performance.now()), for gaps immune to clock steps. */
  mono: number;
}

// CSI sequences (ESC [ ... final byte), OSC sequences (ESC ] ... BEL or ESC \), two-byte escapes.
const TERMINAL_ESCAPES = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]/g;

export class VmSession {
  readonly lines: StampedLine[] = [];
  /** What ssh itself said on stderr (the remote side's stderr comes through the pty). */
  sshErrors = '';
  /** Resolves with ssh's exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
  private readonly ssh: ChildProcessWithoutNullStreams;
  private partial = '';
  private endedMono: number | undefined;
  private readonly forget: () => void;

  constructor(c: VmConnection, command?: string, user = 'root') {
    this.ssh = spawn('ssh', sessionSshArgs(c, user, ...(command ? [command] : [])), {
      stdio: 'pipe',
    });
    this.forget = onProcessExit(() => this.ssh.kill('SIGKILL'));
    this.ssh.stdout.on('data', (chunk: Buffer) => this.take(chunk.toString('utf8')));
    this.ssh.stderr.on('data', (chunk: Buffer) => (this.sshErrors += chunk.toString('utf8')));
    this.exited = new Promise((resolve) =>
      this.ssh.once(
        'close',
        (code) => (this.forget(), (this.endedMono = performance.now()), resolve(code)),
      ),
    );
  }

  private take(text: string): void {
    const at = Date.now();
    const mono = performance.now();
    const parts = (this.partial + text).split('\n');
    this.partial = parts.pop() ?? '';
    for (const part of parts) {
      const raw = part.replace(/\r/g, '');
      this.lines.push({ text: raw.replace(TERMINAL_ESCAPES, ''), raw, at, mono });
    }
  }

  get running(): boolean {
    return this.ssh.exitCode === null && this.ssh.signalCode === null;
  }

  /** Input as typed at the terminal (end lines with \n). */
  write(text: string): void {
    this.ssh.stdin.write(text);
  }

  /** Everything received so far, the unfinished last line (a prompt) included. */
  output(): string {
    return [
      ...this.lines.map((l) => l.text),
      this.partial.replace(/\r/g, '').replace(TERMINAL_ESCAPES, ''),
    ].join('\n');
  }

  /** The first complete line at index >= `from` that matches, polled with a deadline. */
  async waitForLine(
    pattern: RegExp,
    timeoutMs: number,
    from = 0,
  ): Promise<StampedLine & { index: number }> {
    return pollUntil(
      () => {
        const index = this.lines.findIndex((l, i) => i >= from && pattern.test(l.text));
        if (index >= 0) return { ...(this.lines[index] as StampedLine), index };
        if (!this.running)
          throw new Error(
            `the ssh session ended before a line matched ${pattern}\n${this.describe()}`,
          );
        return undefined;
      },
      {
        timeoutMs,
        intervalMs: 100,
        what: `a session line matching ${pattern}`,
        detail: () => this.describe(),
      },
    );
  }

  /** The longest host-side pause between consecutive lines that match `pattern`. */
  longestGap(pattern: RegExp): { ms: number; before?: StampedLine; after?: StampedLine } {
    const ticks = this.lines.filter((l) => pattern.test(l.text));
    let best: { ms: number; before?: StampedLine; after?: StampedLine } = { ms: 0 };
    ticks.forEach((after, i) => {
      const before = ticks[i - 1];
      if (before && after.mono - before.mono > best.ms)
        best = { ms: after.mono - before.mono, before, after };
    });
    return best;
  }

  async close(): Promise<void> {
    if (this.running) this.ssh.kill('SIGTERM');
    await this.exited;
  }

  private describe(): string {
    const last = this.lines
      .slice(-15)
      .map((l) => l.text)
      .join('\n');
    const lastLine = this.lines.at(-1);
    const ended =
      this.endedMono !== undefined && lastLine
        ? `\nssh exited ${((this.endedMono - lastLine.mono) / 1000).toFixed(1)} s after the last line`
        : '';
    return `session last lines:\n${last}${ended}${this.sshErrors ? `\nssh: ${this.sshErrors.trim()}` : ''}`;
  }
}

/** A session of root's, or of `user` (the bed's non-root user logs in with the same key). */
/** A pattern for one whole line that is exactly `text` (a kernel like 6.12.107+deb13-cloud-amd64 holds a `+`). */
export function wholeLine(text: string): RegExp {
  return new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);
}

export function openSession(c: VmConnection, command?: string, user?: string): VmSession {
  return new VmSession(c, command, user);
}
