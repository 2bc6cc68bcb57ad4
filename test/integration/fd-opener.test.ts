/**
 * The fd opener that runs right before each criu restore, run for real (needs
 * python3): the restores of two trees of one leap meet on a name and get the two
 * ends of one socketpair; an end without a name comes back closed; a held
 * terminal is opened by its path, and one that is gone is replaced by a new one.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';

import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';

import { fdOpenerArgv } from '../../src/steps/restore/world.js';
import { pollUntil } from '../helpers/poll.js';

const python = (code: string) => ['python3', '-c', code];
const run = (argv: string[]) => execa(argv[0] as string, argv.slice(1), { timeout: 20_000 });
const end = (fd: number, rejoin?: string) => [
  { key: 'socket:[1]', fd, peerPath: undefined, ...(rejoin ? { rejoin } : {}) },
];
const firstLine = async (stream: Readable): Promise<string> =>
  (await once(createInterface({ input: stream }), 'line'))[0] as string;

// Holds a pty pair and prints its slave's path.
const PTY_HOLDER =
  'import os, pty, time\nmaster, slave = pty.openpty()\nprint(os.ttyname(slave), flush=True)\nwhile True: time.sleep(1)';

describe('the fd opener before criu restore', () => {
  const holders: Array<{ kill: () => void }> = [];
  afterEach(() => holders.splice(0).forEach((h) => h.kill()));

  it('gives the two restores of one stream the two ends of one socketpair', async () => {
    const name = `kernel-leap-test-${process.pid}-${Date.now()}`;
    // It prints its children first: the holder must not be one (criu is the only child of the unshare the restore execs).
    const children =
      'import os\nprint(open("/proc/self/task/%d/children" % os.getpid()).read().strip() or "none", flush=True)\n';
    const first = run(
      fdOpenerArgv(
        [],
        end(5, name),
        [],
        python(
          `${children}import socket\ns = socket.socket(fileno=5)\ns.sendall(b"ping")\nprint(s.recv(4).decode())`,
        ),
      ),
    );
    // The restores run one after the other: the second starts once the first holds the other end.
    await pollUntil(
      () => readFileSync('/proc/net/unix', 'utf8').includes(`@${name}`) || undefined,
      { timeoutMs: 10_000, intervalMs: 50, what: 'the first opener to hold its peer end' },
    );
    const second = await run(
      fdOpenerArgv(
        [],
        end(7, name),
        [],
        python(
          'import socket\ns = socket.socket(fileno=7)\nprint(s.recv(4).decode())\ns.sendall(b"pong")',
        ),
      ),
    );
    expect(second.stdout).toBe('ping');
    expect((await first).stdout).toBe('none\npong');
    await pollUntil(
      () => !readFileSync('/proc/net/unix', 'utf8').includes(`@${name}`) || undefined,
      { timeoutMs: 10_000, intervalMs: 50, what: 'the holder to go once it handed its end over' },
    );
  });

  it("side by side, takes the peer's end from the restore that bound the name first, before it listens", async () => {
    const name = `kernel-leap-test-${process.pid}-${Date.now()}-side`;
    // The peer's opener as it is between its bind and its listen, then handing its end over.
    const peer = spawn(
      'python3',
      [
        '-c',
        [
          'import socket, sys, time',
          'lsn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)',
          'lsn.bind("\\0" + sys.argv[1])',
          'print("bound", flush=True)',
          'time.sleep(0.3)',
          'lsn.listen(1)',
          'a, b = socket.socketpair()',
          'socket.send_fds(lsn.accept()[0], [b"k"], [b.fileno()])',
          'a.sendall(b"ping")',
          'print(a.recv(4).decode(), flush=True)',
        ].join('\n'),
        name,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    holders.push({ kill: () => peer.kill('SIGKILL') });
    const lines = createInterface({ input: peer.stdout });
    const said = (async () => {
      const all: string[] = [];
      for await (const line of lines) all.push(line);
      return all;
    })();
    await pollUntil(
      () => readFileSync('/proc/net/unix', 'utf8').includes(`@${name}`) || undefined,
      { timeoutMs: 10_000, intervalMs: 20, what: 'the peer to bind the name' },
    );
    const mine = await run(
      fdOpenerArgv(
        [],
        end(7, name),
        [],
        python(
          'import socket\ns = socket.socket(fileno=7)\nprint(s.recv(4).decode())\ns.sendall(b"pong")',
        ),
      ),
    );
    expect(mine.stdout).toBe('ping');
    expect(await said).toEqual(['bound', 'pong']);
  });

  it('gives an end without a peer tree closed: its process reads EOF', async () => {
    const { stdout } = await run(
      fdOpenerArgv(
        [],
        end(5),
        [],
        python('import socket\nprint(len(socket.socket(fileno=5).recv(4)))'),
      ),
    );
    expect(stdout).toBe('0');
  });

  it('opens a held terminal by its path, non-blocking as the tree held it', async () => {
    const holder = spawn('python3', ['-c', PTY_HOLDER], { stdio: ['ignore', 'pipe', 'inherit'] });
    holders.push(holder);
    const path = await firstLine(holder.stdout);
    const check = 'import fcntl, os\nprint(os.ttyname(6), os.get_blocking(6))';
    expect(
      (await run(fdOpenerArgv([], [], [{ fd: 6, path, nonBlocking: true }], python(check)))).stdout,
    ).toBe(`${path} False`);
    expect(
      (await run(fdOpenerArgv([], [], [{ fd: 6, path, nonBlocking: false }], python(check))))
        .stdout,
    ).toBe(`${path} True`);
  });

  it('gives a terminal whose owner was not restored, or that is gone, as a new one, live for criu to restore, that hangs up later', async () => {
    const check = 'import os\nprint(os.isatty(6), os.get_blocking(6))';
    for (const path of [undefined, '/dev/pts/999999']) {
      const { stdout } = await run(
        fdOpenerArgv([], [], [{ fd: 6, path, nonBlocking: true }], python(check)),
      );
      expect(stdout).toBe('True False');
    }
  });
});
