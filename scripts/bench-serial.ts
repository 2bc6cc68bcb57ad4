/**
 * QEMU writes the guest's serial console to a file with no time on it. This tails
 * that file from the host and stamps each line as it appears, so the kexec jump
 * (from "kexec_core: Starting new kernel" to the next "Linux version") and the
 * kernel's own steps are measured on the host's clock, as the ticker's gaps are.
 */
import { closeSync, existsSync, openSync, readSync } from 'node:fs';

export interface SerialLine {
  /** Host wall clock (ms) when the line was read. */
  at: number;
  text: string;
}

/** How often the file is read: the stamps are this coarse at worst. */
const POLL_MS = 50;

export class SerialStamper {
  readonly lines: SerialLine[] = [];
  private offset = 0;
  private partial = '';
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly path: string) {
    this.timer = setInterval(() => this.read(), POLL_MS);
  }

  /** Lines read since `from` (an index into lines). */
  since(from: number): SerialLine[] {
    this.read();
    return this.lines.slice(from);
  }

  stop(): void {
    clearInterval(this.timer);
    this.read();
  }

  private read(): void {
    if (!existsSync(this.path)) return;
    const fd = openSync(this.path, 'r');
    try {
      const buffer = Buffer.alloc(1 << 16);
      for (
        let n = readSync(fd, buffer, 0, buffer.length, this.offset);
        n > 0;
        n = readSync(fd, buffer, 0, buffer.length, this.offset)
      ) {
        this.offset += n;
        this.take(buffer.subarray(0, n).toString('latin1'));
      }
    } finally {
      closeSync(fd);
    }
  }

  private take(text: string): void {
    const at = Date.now();
    const parts = (this.partial + text).split('\n');
    this.partial = parts.pop() ?? '';
    for (const part of parts) this.lines.push({ at, text: part.replace(/\r/g, '') });
  }
}

/** The host instants of one kexec'd boot on the console, from the jump on; undefined where the console had no such line. */
export interface ConsoleBoot {
  jumpStart?: number;
  kernelStart?: number;
  runInit?: number;
}

export function consoleBoot(lines: readonly SerialLine[]): ConsoleBoot {
  const jumpStart = lines.find((l) => l.text.includes('kexec_core: Starting new kernel'))?.at;
  const startIndex = lines.findIndex(
    (l) => (jumpStart === undefined || l.at >= jumpStart) && l.text.includes('Linux version'),
  );
  const after = startIndex < 0 ? [] : lines.slice(startIndex);
  return {
    jumpStart,
    kernelStart: after[0]?.at,
    runInit: after.find((l) => l.text.includes('Run /init as init process'))?.at,
  };
}
