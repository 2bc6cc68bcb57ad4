import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { Output } from '../../../src/cli/output.js';
import { loadConfig } from '../../../src/config/load.js';
import { NO_EXEC_MARK, runWorker } from '../../../src/engine/worker-run.js';
import { settleStoppedWorker } from '../../../src/engine/worker-settle.js';
import { Journal } from '../../../src/state/journal.js';
import { markPending, pendingRuns } from '../../../src/state/pending.js';
import { HOST_PATHS } from '../../../src/tools/host-paths.js';
import type { Runner } from '../../../src/tools/runner.js';

const refusingRunner: Runner = {
  run: async (request) => {
    throw new Error(`no command expected, got ${request.file}`);
  },
  loggingTo() {
    return this;
  },
};

/** Succeeds at everything, with empty output, and records the argv. */
function permissiveRunner(): Runner & { argvs: string[][] } {
  const argvs: string[][] = [];
  return {
    argvs,
    run: async (request) => {
      const argv = [request.file, ...(request.args ?? [])];
      argvs.push(argv);
      return { argv, exitCode: 0, stdout: '', stderr: '', durationMs: 1 };
    },
    loggingTo() {
      return this;
    },
  };
}

const quiet = () =>
  new Output(
    false,
    false,
    { write: () => true } as unknown as NodeJS.WritableStream,
    { write: () => true } as unknown as NodeJS.WritableStream,
  );

/** A run whose worker got as far as the dump, planning a tree of one gone pid. */
function runInDump(): {
  stateDir: string;
  journal: Journal;
  config: ReturnType<typeof loadConfig>['config'];
} {
  const stateDir = mkdtempSync(join(tmpdir(), 'kl-worker-'));
  const config = loadConfig({
    env: {},
    file: undefined,
    overrides: [`paths.state_dir=${stateDir}`],
  }).config;
  const journal = Journal.create(stateDir, 'upgrade');
  journal.start('plan');
  journal.finish('plan', {
    ...PLANNED,
    pids: [4_000_000],
    connections: [{ local: { ip: '10.0.2.15', port: 22 }, peer: { ip: '10.0.2.2', port: 40000 } }],
  });
  journal.start('dump');
  writeFileSync(join(journal.paths.images, 'inventory.img'), 'x');
  return { stateDir, journal, config };
}

/** A plan phase's output; each test names the tree's pids and connections. */
const PLANNED = {
  rootPid: 4_000_000,
  pids: [],
  verdict: 'go',
  connections: [],
  ptys: [],
  leftBehind: [],
} as const;

const KILLED = { result: 'signal', code: 'killed', status: 'KILL' };

describe('the worker', () => {
  it('always leaves an outcome for the launcher, even when it fails before its first phase', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'kl-worker-'));
    const config = loadConfig({
      env: {},
      file: undefined,
      overrides: [`paths.state_dir=${stateDir}`],
    }).config;
    const journal = Journal.create(stateDir, 'upgrade');
    const out = new Output(
      false,
      false,
      { write: () => true } as unknown as NodeJS.WritableStream,
      { write: () => true } as unknown as NodeJS.WritableStream,
    );
    const run = runWorker(
      { runner: refusingRunner, config, out, host: HOST_PATHS },
      {
        runId: journal.runId,
        rootPid: 4_000_000,
        others: [],
        waitPid: undefined,
        callerPidNs: 'pid:[1]',
        rehearse: true,
        exec: true,
        pre: undefined,
        kernel: undefined,
        mode: 'upgrade',
        dumpBoundMs: 60_000,
      },
    );
    await expect(run).rejects.toMatchObject({
      code: 'PID_NOT_FOUND',
      hint: expect.stringContaining('again'),
    });
    expect(readFileSync(join(journal.paths.dir, 'outcome'), 'utf8')).toBe('aborted\n');
  });

  it('killed by a signal mid-dump: its stop-post settles the run as failed, says why, and unwinds', async () => {
    const { stateDir, journal, config } = runInDump();
    const runner = permissiveRunner();
    expect(
      await settleStoppedWorker(
        { runner, config, out: quiet(), host: HOST_PATHS },
        { caller: journal.runId, others: [] },
        KILLED,
        60_000,
      ),
    ).toBe(true);
    expect(readFileSync(join(journal.paths.dir, 'outcome'), 'utf8')).toBe('aborted\n');
    const dump = Journal.open(stateDir, journal.runId).phase('dump');
    expect(dump).toMatchObject({
      status: 'failed',
      error: { code: 'WORKER_ENDED', message: expect.stringContaining('killed by signal KILL') },
    });
    // Unwound as a failed dump is: the lock rules looked up, the images gone.
    expect(runner.argvs).toContainEqual(['iptables-save', '-c']);
    expect(existsSync(join(journal.paths.images, 'inventory.img'))).toBe(false);
  });

  it.each([
    ['after the dump completed', (journal: Journal) => journal.mark('dump.dumped')],
    [
      'mid-dump, with criu finishing the dump after it',
      (journal: Journal) =>
        writeFileSync(
          join(journal.paths.logs, 'dump.log'),
          '(01.2) Writing stats\n(01.3) Dumping finished successfully\n',
        ),
    ],
  ])(
    'killed %s: keeps the images, hands the run to the next boot and jumps, as the worker would have',
    async (_when, dumped) => {
      const { stateDir, journal, config } = runInDump();
      dumped(journal);
      const runner = permissiveRunner();
      expect(
        await settleStoppedWorker(
          { runner, config, out: quiet(), host: HOST_PATHS },
          { caller: journal.runId, others: [] },
          KILLED,
          60_000,
        ),
      ).toBe(true);
      expect(existsSync(join(journal.paths.images, 'inventory.img'))).toBe(true);
      expect(pendingRuns(stateDir)).toEqual([journal.runId]);
      expect(runner.argvs.map((argv) => argv.join(' '))).toEqual([
        'iptables-save -c',
        'sync',
        'kexec -e',
      ]);
      const after = Journal.open(stateDir, journal.runId);
      expect(after.phase('dump').status).toBe('done');
      expect(after.phase('kexec').status).toBe('running');
      expect(existsSync(join(journal.paths.dir, 'outcome'))).toBe(false);
    },
  );

  it('killed after the dump of an upgrade --no-exec: keeps the run for the next boot, says dumped, and does not jump', async () => {
    const { stateDir, journal, config } = runInDump();
    journal.mark(NO_EXEC_MARK);
    journal.mark('dump.dumped');
    const runner = permissiveRunner();
    expect(
      await settleStoppedWorker(
        { runner, config, out: quiet(), host: HOST_PATHS },
        { caller: journal.runId, others: [] },
        KILLED,
        60_000,
      ),
    ).toBe(true);
    expect(pendingRuns(stateDir)).toEqual([journal.runId]);
    expect(runner.argvs.map((argv) => argv[0])).not.toContain('kexec');
    expect(readFileSync(join(journal.paths.dir, 'outcome'), 'utf8')).toBe('dumped\n');
  });

  it("killed mid---all-ssh, with one session dumped and the caller's not: resumes the caller's, keeps the dumped one for the next boot, and does not jump", async () => {
    const { stateDir, journal: other, config } = runInDump();
    other.mark('dump.dumped');
    const caller = Journal.create(stateDir, 'upgrade');
    caller.start('plan');
    caller.finish('plan', { ...PLANNED, pids: [4_000_001] });
    const runner = permissiveRunner();
    expect(
      await settleStoppedWorker(
        { runner, config, out: quiet(), host: HOST_PATHS },
        { caller: caller.runId, others: [other.runId] },
        KILLED,
        60_000,
      ),
    ).toBe(true);
    expect(readFileSync(join(caller.paths.dir, 'outcome'), 'utf8')).toBe('aborted\n');
    expect(existsSync(join(other.paths.dir, 'outcome'))).toBe(false);
    expect(pendingRuns(stateDir)).toEqual([other.runId]);
    expect(existsSync(join(other.paths.images, 'inventory.img'))).toBe(true);
    expect(runner.argvs.map((argv) => argv.join(' '))).not.toContain('kexec -e');
    expect(runner.argvs.map((argv) => argv.join(' '))).not.toContain('kexec -u');
  });

  it('stopped after handing the run to the next boot, or after an outcome: leaves the run alone', async () => {
    const { stateDir, journal, config } = runInDump();
    markPending(stateDir, [journal.runId]);
    expect(
      await settleStoppedWorker(
        { runner: refusingRunner, config, out: quiet(), host: HOST_PATHS },
        { caller: journal.runId, others: [] },
        KILLED,
        60_000,
      ),
    ).toBe(false);
    expect(existsSync(join(journal.paths.dir, 'outcome'))).toBe(false);
  });
});
