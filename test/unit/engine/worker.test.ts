import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Output } from '../../../src/cli/output.js';
import { loadConfig } from '../../../src/config/load.js';
import { Journal } from '../../../src/engine/journal.js';
import { runWorker } from '../../../src/engine/worker.js';
import type { Runner } from '../../../src/tools/runner.js';

const refusingRunner: Runner = {
  run: async (request) => {
    throw new Error(`no command expected, got ${request.file}`);
  },
  spawnDetached: async () => {
    throw new Error('no command expected');
  },
};

describe('the worker', () => {
  it('always leaves an outcome for the launcher, even when it fails before its first phase', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'kl-worker-'));
    const config = loadConfig({ env: {}, file: undefined, overrides: [`paths.state_dir=${stateDir}`] }).config;
    const journal = Journal.create(stateDir, 'upgrade');
    const out = new Output(false, false, { write: () => true } as unknown as NodeJS.WritableStream, { write: () => true } as unknown as NodeJS.WritableStream);
    const run = runWorker({ runner: refusingRunner, config, out }, {
      runId: journal.runId, rootPid: 4_000_000, waitPid: undefined, callerPidNs: 'pid:[1]', rehearse: true, exec: true, pre: undefined, kernel: undefined, mode: 'upgrade',
    });
    await expect(run).rejects.toMatchObject({ code: 'PID_NOT_FOUND', hint: expect.stringContaining('again') });
    expect(readFileSync(join(journal.paths.dir, 'outcome'), 'utf8')).toBe('failed\n');
  });
});
