import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Output } from '../../../src/cli/output.js';
import { loadConfig } from '../../../src/config/load.js';
import { Journal } from '../../../src/state/journal.js';
import { markPending } from '../../../src/state/pending.js';
import { runWorker } from '../../../src/engine/worker-run.js';
import { settleStoppedWorker } from '../../../src/engine/worker-settle.js';
import { HOST_PATHS } from '../../../src/tools/host-paths.js';
import type { Runner } from '../../../src/tools/runner.js';

const refusingRunner: Runner = {
  run: async (request) => {
    throw new Error(`no command expected, got ${request.file}`);
  },
  spawnDetached: async () => {
    throw new Error('no command expected');
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
    spawnDetached: async () => 1,
  };
}

const quiet = () => new Output(false, false, { write: () => true } as unknown as NodeJS.WritableStream, { write: () => true } as unknown as NodeJS.WritableStream);

/** A run whose worker got as far as the dump, planning a tree of one gone pid. */
function runInDump(): { stateDir: string; journal: Journal; config: ReturnType<typeof loadConfig>['config'] } {
  const stateDir = mkdtempSync(join(tmpdir(), 'kl-worker-'));
  const config = loadConfig({ env: {}, file: undefined, overrides: [`paths.state_dir=${stateDir}`] }).config;
  const journal = Journal.create(stateDir, 'upgrade');
  journal.start('plan');
  journal.finish('plan', { pids: [4_000_000], connections: [{ local: { ip: '10.0.2.15', port: 22 }, peer: { ip: '10.0.2.2', port: 40000 } }] });
  journal.start('dump');
  writeFileSync(join(journal.paths.images, 'inventory.img'), 'x');
  return { stateDir, journal, config };
}

const KILLED = { result: 'signal', code: 'killed', status: 'KILL' };

describe('the worker', () => {
  it('always leaves an outcome for the launcher, even when it fails before its first phase', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'kl-worker-'));
    const config = loadConfig({ env: {}, file: undefined, overrides: [`paths.state_dir=${stateDir}`] }).config;
    const journal = Journal.create(stateDir, 'upgrade');
    const out = new Output(false, false, { write: () => true } as unknown as NodeJS.WritableStream, { write: () => true } as unknown as NodeJS.WritableStream);
    const run = runWorker({ runner: refusingRunner, config, out, host: HOST_PATHS }, {
      runId: journal.runId, rootPid: 4_000_000, others: [], waitPid: undefined, callerPidNs: 'pid:[1]', rehearse: true, exec: true, pre: undefined, kernel: undefined, mode: 'upgrade',
    });
    await expect(run).rejects.toMatchObject({ code: 'PID_NOT_FOUND', hint: expect.stringContaining('again') });
    expect(readFileSync(join(journal.paths.dir, 'outcome'), 'utf8')).toBe('aborted\n');
  });

  it('killed by a signal mid-dump: its stop-post settles the run as failed, says why, and unwinds', async () => {
    const { stateDir, journal, config } = runInDump();
    const runner = permissiveRunner();
    expect(await settleStoppedWorker({ runner, config, out: quiet(), host: HOST_PATHS }, journal.runId, KILLED)).toBe(true);
    expect(readFileSync(join(journal.paths.dir, 'outcome'), 'utf8')).toBe('aborted\n');
    const dump = Journal.open(stateDir, journal.runId).phase('dump');
    expect(dump).toMatchObject({ status: 'failed', error: { code: 'WORKER_ENDED', message: expect.stringContaining('killed by signal KILL') } });
    // Unwound as a failed dump is: the lock rules looked up, the images gone.
    expect(runner.argvs).toContainEqual(['iptables-save', '-c']);
    expect(existsSync(join(journal.paths.images, 'inventory.img'))).toBe(false);
  });

  it('killed after the dump completed: the images are kept, and the hint says how to restore them', async () => {
    const { stateDir, journal, config } = runInDump();
    journal.mark('dump.dumped');
    expect(await settleStoppedWorker({ runner: permissiveRunner(), config, out: quiet(), host: HOST_PATHS }, journal.runId, KILLED)).toBe(true);
    expect(Journal.open(stateDir, journal.runId).phase('dump').error?.hint).toContain(`kernel-leap restore --run ${journal.runId}`);
    expect(existsSync(join(journal.paths.images, 'inventory.img'))).toBe(true);
  });

  it('stopped after handing the run to the next boot, or after an outcome: leaves the run alone', async () => {
    const { stateDir, journal, config } = runInDump();
    markPending(stateDir, [journal.runId]);
    expect(await settleStoppedWorker({ runner: refusingRunner, config, out: quiet(), host: HOST_PATHS }, journal.runId, KILLED)).toBe(false);
    expect(existsSync(join(journal.paths.dir, 'outcome'))).toBe(false);
  });
});
