import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import type { ErrorEvent, Progress, ProgressEvent } from '../engine/progress.js';

/**
 * Everything the CLI prints goes through here: human text on a tty, or one JSON
 * object per line with --json. Progress goes to stderr in text mode so that
 * stdout stays the command's answer.
 */
export class Output implements Progress {
  private progressDir: string | undefined;
  private progressCount = 0;

  constructor(
    readonly json: boolean,
    readonly verbose: boolean,
    private readonly stdout: NodeJS.WritableStream = process.stdout,
    private readonly stderr: NodeJS.WritableStream = process.stderr,
  ) {}

  /** The command's answer: `data` as JSON, or `text(data)` for a person. */
  result<T>(data: T, text: (data: T) => string): void {
    this.stdout.write(
      this.json ? `${JSON.stringify({ type: 'result', ...data })}\n` : `${text(data)}\n`,
    );
  }

  /**
   * Each progress line also goes to dir as its own file, 1, 2, ...: the launcher
   * shell shows them during an upgrade. A file is renamed into place whole and
   * never changes after, because the launcher may be frozen in the middle of
   * reading one, and CRIU refuses to restore a file whose size changed.
   */
  mirrorTo(dir: string): void {
    this.progressDir = dir;
  }

  progress(event: ProgressEvent): void {
    if (this.progressDir) this.writeProgressFile(`${formatProgress(event)}\n`);
    if (this.json) {
      this.stdout.write(
        `${JSON.stringify({ type: 'progress', ts: new Date().toISOString(), ...event })}\n`,
      );
      return;
    }
    this.stderr.write(`${formatProgress(event)}\n`);
  }

  private writeProgressFile(line: string): void {
    const dir = this.progressDir as string;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.progressCount += 1;
    const partial = join(dir, `.${this.progressCount}`);
    writeFileSync(partial, line, { mode: 0o600 });
    renameSync(partial, join(dir, String(this.progressCount)));
  }

  error(payload: ErrorEvent): void {
    if (this.json) {
      this.stdout.write(`${JSON.stringify({ type: 'error', ...payload })}\n`);
      return;
    }
    this.stderr.write(`error[${payload.code}]: ${payload.message}\n`);
    if (payload.hint) this.stderr.write(`  hint: ${payload.hint}\n`);
  }
}

const MARKS: Record<ProgressEvent['state'], string> = {
  start: '▶',
  done: '✔',
  failed: '✘',
  info: '·',
};

export function formatProgress(event: ProgressEvent): string {
  const duration = event.durationMs === undefined ? '' : ` (${formatDuration(event.durationMs)})`;
  const message = event.message ? `: ${event.message}` : '';
  return `${MARKS[event.state]} ${event.phase}${duration}${message}`;
}

export function formatDuration(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** A fixed-width table for terminals; cells are stringified as they are. */
export function formatTable(
  headers: readonly string[],
  rows: ReadonlyArray<readonly string[]>,
): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}
