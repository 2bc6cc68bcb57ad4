/**
 * QEMU's machine protocol (QMP) on a guest's unix socket, for the little the
 * booted state needs (pause a guest and write its RAM and devices to a file,
 * and let a guest loaded from such a file run) and the faults need (a reboot
 * that keeps QEMU).
 */
import { existsSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';

import { pollUntil } from './poll.js';

const TIMEOUT_MS = 120_000;

interface QmpReply {
  return?: unknown;
  error?: { class: string; desc: string };
  event?: string;
}

/** One connection; commands run one at a time, events are skipped. */
class Qmp {
  private buffered = '';
  private readonly waiting: ((line: string) => void)[] = [];
  private readonly lines: string[] = [];

  private constructor(private readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buffered += chunk;
      for (let end = this.buffered.indexOf('\n'); end >= 0; end = this.buffered.indexOf('\n')) {
        const line = this.buffered.slice(0, end);
        this.buffered = this.buffered.slice(end + 1);
        const next = this.waiting.shift();
        if (next) next(line);
        else this.lines.push(line);
      }
    });
  }

  static async open(path: string): Promise<Qmp> {
    // QEMU creates the socket a moment after it starts.
    await pollUntil(() => (existsSync(path) ? true : undefined), {
      timeoutMs: 30_000,
      intervalMs: 50,
      what: `QEMU's QMP socket ${path}`,
    });
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = createConnection(path, () => resolve(s));
      s.once('error', reject);
    });
    const qmp = new Qmp(socket);
    await qmp.reply(); // the greeting
    await qmp.execute('qmp_capabilities');
    return qmp;
  }

  private line(): Promise<string> {
    const ready = this.lines.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    return new Promise((resolve, reject) => {
      this.waiting.push(resolve);
      this.socket.once('close', () => reject(new Error('QEMU closed its QMP socket')));
    });
  }

  private async reply(): Promise<QmpReply> {
    for (;;) {
      const message = JSON.parse(await this.line()) as QmpReply;
      if (message.event === undefined) return message;
    }
  }

  async execute(command: string, args?: Record<string, unknown>): Promise<unknown> {
    this.socket.write(`${JSON.stringify({ execute: command, arguments: args })}\n`);
    const reply = await this.reply();
    if (reply.error) throw new Error(`QMP ${command}: ${reply.error.desc}`);
    return reply.return;
  }

  close(): void {
    this.socket.destroy();
  }
}

async function withQmp<T>(path: string, use: (qmp: Qmp) => Promise<T>): Promise<T> {
  const qmp = await Qmp.open(path);
  try {
    return await use(qmp);
  } finally {
    qmp.close();
  }
}

/**
 * Pauses the guest, writes its RAM and device state to `file` (a migration to a
 * file: QEMU flushes the disk before it says completed) and ends QEMU.
 */
export function saveAndQuit(qmpSocket: string, file: string): Promise<void> {
  return withQmp(qmpSocket, async (qmp) => {
    await qmp.execute('stop');
    await qmp.execute('migrate', { uri: `file:${file}` });
    await pollUntil(
      async () => {
        const { status, 'error-desc': error } = (await qmp.execute('query-migrate')) as {
          status?: string;
          'error-desc'?: string;
        };
        if (status === 'failed') throw new Error(`saving the guest's state failed: ${error}`);
        return status === 'completed' ? true : undefined;
      },
      { timeoutMs: TIMEOUT_MS, intervalMs: 100, what: `QEMU to write ${file}` },
    );
    await qmp.execute('quit').catch(() => undefined);
  });
}

/**
 * A guest started with `-incoming` loads the state, then stays paused because it
 * was saved paused: waits for the load to finish and lets the guest run.
 */
export function resumeLoaded(qmpSocket: string): Promise<void> {
  return withQmp(qmpSocket, async (qmp) => {
    await pollUntil(
      async () => {
        const { status } = (await qmp.execute('query-status')) as { status: string };
        if (status === 'inmigrate') return undefined;
        if (status === 'paused' || status === 'running') return true;
        throw new Error(`the guest did not load its saved state: QEMU says ${status}`);
      },
      { timeoutMs: TIMEOUT_MS, intervalMs: 100, what: 'QEMU to load the saved state' },
    );
    await qmp.execute('cont');
  });
}

/**
 * The guest's reboots reset it in place from now on: QEMU's -no-reboot (which
 * makes a reboot end QEMU, so a leap that reboots instead of kexec'ing fails
 * fast) undone for this QEMU only, as `set-action` allows while it runs.
 */
export function rebootInPlace(qmpSocket: string): Promise<void> {
  return withQmp(qmpSocket, async (qmp) => {
    await qmp.execute('set-action', { reboot: 'reset' });
  });
}
