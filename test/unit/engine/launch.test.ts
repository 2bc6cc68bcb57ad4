import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { loadConfig } from '../../../src/config/load.js';
import { launchWorker } from '../../../src/engine/launch.js';
import { Journal } from '../../../src/state/journal.js';
import { markPending } from '../../../src/state/pending.js';
import { readWorkerInput, WORKER_INPUT_FILE } from '../../../src/state/worker-input.js';
import type { Runner, RunRequest } from '../../../src/tools/runner.js';

const SECRET_PRE = 'curl -H "Authorization: hunter2" https://example/upgrade | sh';

/** Launches a worker with echo as its node; returns what systemd-run got, and the unit's stop-post argv. */
async function launched(): Promise<{
  argv: string[];
  request: string[];
  stateDir: string;
  journal: Journal;
  other: Journal;
}> {
  const stateDir = mkdtempSync(join(tmpdir(), 'kl-launch-'));
  const config = loadConfig({
    env: {},
    file: undefined,
    overrides: [
      `paths.state_dir=${stateDir}`,
      'paths.node=/bin/echo',
      "paths.bundle=/opt/it's.mjs",
    ],
  }).config;
  const other = Journal.create(stateDir, 'upgrade');
  const journal = Journal.create(stateDir, 'upgrade');
  const requests: RunRequest[] = [];
  const runner: Runner = {
    run: async (request) => (
      requests.push(request),
      { argv: [], exitCode: 0, stdout: '', stderr: '', durationMs: 1 }
    ),
    loggingTo() {
      return this;
    },
  };
  await launchWorker(
    runner,
    config,
    { file: undefined, overrides: ['s3.bucket=b', 's3.prefix=hunter3'] },
    journal,
    {
      runId: journal.runId,
      rootPid: 1,
      others: [{ runId: other.runId, rootPid: 2 }],
      mode: 'upgrade',
      rehearse: true,
      exec: true,
      pre: SECRET_PRE,
      // A tree of 512 MiB: a minute, and a quarter second a MiB.
      dumpBoundMs: 188_000,
    },
  );
  const request = [requests[0]?.file ?? '', ...(requests[0]?.args ?? [])];
  return { argv: stopPostArgv(request.slice(1)), request, stateDir, journal, other };
}

/** From systemd-run's -p value (JSON-quoted words) or busctl's a(sasb), as this machine's pid 1 decided. */
function stopPostArgv(args: readonly string[]): string[] {
  const property = args.find((a) => a.startsWith('ExecStopPost='));
  if (property)
    return JSON.parse(
      `[${property.slice('ExecStopPost='.length).split('" "').join('","')}]`,
    ) as string[];
  const at = args.indexOf('ExecStopPost');
  return args.slice(at + 5, at + 5 + Number(args[at + 4]));
}

function runStopPost(argv: string[]): string {
  const [file, ...args] = argv;
  return execFileSync(file ?? '', args, { encoding: 'utf8' });
}

describe('the worker unit', () => {
  it('settles a run with neither an outcome nor the pending mark, reading the runs and the config from the input file', async () => {
    const { argv, journal } = await launched();
    const input = join(journal.paths.dir, WORKER_INPUT_FILE);
    expect(runStopPost(argv)).toBe(`/opt/it's.mjs worker-stopped --input ${input}\n`);
  });

  it("gives the settle the stop timeout its waits add up to, sized from the dump's bound, not systemd's 90 s", async () => {
    const { request } = await launched();
    expect(request.join(' ')).toMatch(/TimeoutStopSec=488|TimeoutStopUSec t 488000000/);
  });

  it("is never the OOM killer's pick: its child criu, killed mid-dump, can take a task down with it", async () => {
    const { request } = await launched();
    expect(request.join(' ')).toMatch(/OOMScoreAdjust=-1000|OOMScoreAdjust i -1000/);
  });

  it('starts no Node once the run has an outcome, or is pending for the next boot', async () => {
    const ended = await launched();
    writeFileSync(join(ended.journal.paths.dir, 'outcome'), 'no-go\n');
    expect(runStopPost(ended.argv)).toBe('');
    const pending = await launched();
    markPending(pending.stateDir, [pending.journal.runId]);
    expect(runStopPost(pending.argv)).toBe('');
  });

  it('has no --pre and no setting on any command line, which every user reads; they are in a 0600 file of the run', async () => {
    const { request, journal, other } = await launched();
    const commandLines = request.join(' ');
    expect(commandLines).toContain(`worker --input ${join(journal.paths.dir, WORKER_INPUT_FILE)}`);
    for (const secret of ['hunter2', 'hunter3', 's3.bucket', '--set', '--pre'])
      expect(commandLines).not.toContain(secret);
    const file = join(journal.paths.dir, WORKER_INPUT_FILE);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readWorkerInput(file)).toEqual({
      schema: 1,
      config: { overrides: ['s3.bucket=b', 's3.prefix=hunter3'] },
      worker: expect.objectContaining({
        runId: journal.runId,
        others: [{ runId: other.runId, rootPid: 2 }],
        pre: SECRET_PRE,
      }),
    });
  });

  it('refuses an input file that others may read or write, or that is not of its shape', async () => {
    const { journal } = await launched();
    const file = join(journal.paths.dir, WORKER_INPUT_FILE);
    chmodSync(file, 0o644);
    expect(() => readWorkerInput(file)).toThrow(
      expect.objectContaining({
        code: 'WORKER_INPUT_INVALID',
        message: expect.stringContaining('mode 644'),
      }),
    );
    writeFileSync(file, '{"schema":1,"config":{"overrides":[]},"worker":{"runId":3}}', {
      mode: 0o600,
    });
    chmodSync(file, 0o600);
    expect(() => readWorkerInput(file)).toThrow(
      expect.objectContaining({ code: 'WORKER_INPUT_INVALID' }),
    );
  });
});
