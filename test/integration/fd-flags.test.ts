/**
 * A failed dump's pty fix on real processes (needs Linux 5.6+ for pidfd_getfd
 * and python3): a process holds a real pty pair, turns its slave non-blocking
 * behind our back, and clearNonBlocking makes that open file blocking again.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';

import { afterEach, describe, expect, it } from 'vitest';

import { blockingPtyFds } from '../../src/steps/checkpoint/dump.js';
import { clearNonBlocking, O_NONBLOCK } from '../../src/tools/fd-flags.js';
import { liveProc } from '../../src/tools/procfs.js';
import { ExecaRunner } from '../../src/tools/runner.js';
import { pollUntil } from '../helpers/poll.js';

// Prints "master slave", then sets O_NONBLOCK on the slave at SIGUSR1, as criu's dump of queued tty data does.
const PTY_HOLDER = `
import fcntl, os, pty, signal, sys, time
master, slave = pty.openpty()
signal.signal(signal.SIGUSR1, lambda *_: fcntl.fcntl(slave, fcntl.F_SETFL, fcntl.fcntl(slave, fcntl.F_GETFL) | os.O_NONBLOCK))
print(master, slave, flush=True)
while True: time.sleep(1)
`;

const firstLine = async (stream: Readable): Promise<string> =>
  (await once(createInterface({ input: stream }), 'line'))[0] as string;
const flagsOf = (pid: number, fd: number) =>
  parseInt(
    /^flags:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'))?.[1] ?? 'NaN',
    8,
  );

describe('a pty left non-blocking', () => {
  const children: Array<{ kill: () => boolean }> = [];
  afterEach(() => children.splice(0).forEach((c) => c.kill()));

  it('is found blocking before, and made blocking again after', async () => {
    const child = spawn('python3', ['-c', PTY_HOLDER], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    const pid = child.pid as number;
    const [master, slave] = (await firstLine(child.stdout)).split(' ').map(Number);
    const before = blockingPtyFds(liveProc, [pid]);
    expect(before).toEqual(
      expect.arrayContaining([
        { pid, fd: master },
        { pid, fd: slave },
      ]),
    );

    child.kill('SIGUSR1');
    await pollUntil(() => ((flagsOf(pid, slave as number) & O_NONBLOCK) !== 0 ? true : undefined), {
      timeoutMs: 10_000,
      intervalMs: 50,
      what: 'the slave to turn non-blocking',
    });
    expect(blockingPtyFds(liveProc, [pid])).not.toContainEqual({ pid, fd: slave });

    await clearNonBlocking(new ExecaRunner(), [{ pid, fd: slave as number }]);
    expect(flagsOf(pid, slave as number) & O_NONBLOCK).toBe(0);
    expect(blockingPtyFds(liveProc, [pid])).toEqual(before);
  });
});
