import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import type { ErrorEvent, Progress, ProgressEvent } from '../engine/progress.js';
import { jsonText, printable, printableLines } from '../tools/printable.js';

/**
 * Everything the CLI prints goes through here: human text on a tty, or one JSON
 * object per line with --json. Progress goes to stderr in text mode so that
 * stdout stays the command's answer. Text holds titles, paths and command lines
 * that other users wrote, so every line leaves here printable (tools/printable.ts),
 * and JSON with the same characters escaped.
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

  /**
   * The command's answer: `data` as JSON, or `text(data, width)` for a person,
   * width being the terminal's when stdout is one (tables fit it).
   */
  result<T>(data: T, text: (data: T, width: number | undefined) => string): void {
    this.stdout.write(
      this.json
        ? `${jsonText({ type: 'result', ...data })}\n`
        : `${printableLines(text(data, terminalWidth(this.stdout)))}\n`,
    );
  }

  /** Text for the person at the terminal only, on stderr (the plan before `upgrade` asks); none with --json. */
  aside(text: string): void {
    if (!this.json) this.stderr.write(`${printableLines(text)}\n`);
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
    // The launcher shell cats the mirrored lines to the session's terminal as they are.
    const line = `${printableLines(formatProgress(event))}\n`;
    if (this.progressDir) this.writeProgressFile(line);
    if (this.json) {
      this.stdout.write(
        `${jsonText({ type: 'progress', ts: new Date().toISOString(), ...event })}\n`,
      );
      return;
    }
    this.stderr.write(line);
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
      this.stdout.write(`${jsonText({ type: 'error', ...payload })}\n`);
      return;
    }
    this.stderr.write(`${printableLines(`error[${payload.code}]: ${payload.message}`)}\n`);
    if (payload.hint) this.stderr.write(`${printableLines(`  hint: ${payload.hint}`)}\n`);
  }
}

/**
 * Columns of the terminal `stream` is; undefined for a pipe or a file, whose lines
 * stay whole, and for a terminal of no known size (0 columns: `ssh -tt` from a
 * script, a serial console), which must not squeeze every table to its minimum.
 */
export function terminalWidth(stream: NodeJS.WritableStream): number | undefined {
  const tty = stream as Partial<NodeJS.WriteStream>;
  return tty.isTTY && (tty.columns ?? 0) > 0 ? tty.columns : undefined;
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

/** The narrowest a column is squeezed to fit a terminal: narrower reads worse than a wide line. */
const MIN_COLUMN = 12;

/**
 * A fixed-width table; each cell is one line, made printable before it is
 * measured, so that an escaped title keeps the columns straight. Given a width
 * (the terminal's), the widest column wraps so that lines fit it.
 */
export function formatTable(
  headers: readonly string[],
  rows: ReadonlyArray<readonly string[]>,
  width?: number,
): string {
  const shown = rows.map((cells) => cells.map(printable));
  const natural = headers.map((h, i) =>
    Math.max(h.length, ...shown.map((r) => (r[i] ?? '').length)),
  );
  const widths = fitColumns(natural, width);
  const lines = (cells: readonly string[]) => {
    const wrapped = widths.map((w, i) => wrapText(cells[i] ?? '', w));
    const height = Math.max(...wrapped.map((c) => c.length));
    return Array.from({ length: height }, (_, k) =>
      wrapped
        .map((c, i) => (c[k] ?? '').padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    );
  };
  return [
    ...lines(headers),
    ...lines(widths.map((w) => '-'.repeat(w))),
    ...shown.flatMap(lines),
  ].join('\n');
}

/** The columns' widths, the widest narrowed so that a line fits `width` (never below MIN_COLUMN). */
function fitColumns(natural: readonly number[], width: number | undefined): number[] {
  const total = natural.reduce((sum, w) => sum + w, 0) + 2 * (natural.length - 1);
  if (width === undefined || total <= width) return [...natural];
  const widest = natural.indexOf(Math.max(...natural));
  const room = width - (total - (natural[widest] ?? 0));
  return natural.map((w, i) => (i === widest ? Math.max(room, Math.min(w, MIN_COLUMN)) : w));
}

/** One indented line of prose, made printable; given a width, wrapped to it with a hanging indent. */
export function formatIndented(prose: string, width: number | undefined, indent = '  '): string {
  const text = printable(prose);
  if (width === undefined) return `${indent}${text}`;
  const hanging = `${indent}  `;
  return wrapText(text, Math.max(width - hanging.length, MIN_COLUMN))
    .map((line, i) => `${i === 0 ? indent : hanging}${line}`)
    .join('\n');
}

/** `text` in lines of at most `width`, broken at spaces, and inside a word longer than a line. */
export function wrapText(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    const joined = line ? `${line} ${word}` : word;
    if (joined.length <= width) {
      line = joined;
      continue;
    }
    if (line) lines.push(line);
    line = word;
    while (line.length > width) {
      lines.push(line.slice(0, width));
      line = line.slice(width);
    }
  }
  return [...lines, line];
}
