import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { loadConfig } from '../../../src/config/load.js';
import { launchWorker } from '../../../src/engine/launch.js';
import { Journal } from '../../../src/state/journal.js';
import { markPending } from '../../../src/state/pending.js';
import type { Runner, RunRequest } from '../../../src/tools/runner.js';

/** Launches a worker with echo as its node, and returns the unit's stop-post argv as systemd-run got it. */
async function launchedStopPost(): Promise<{
  argv: string[];
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
    spawnDetached: async () => 1,
    loggingTo() {
      return this;
    },
  };
  await launchWorker(
    runner,
    config,
    { file: undefined, overrides: ['s3.bucket=b'] },
    { caller: journal, others: [other] },
    ['--root', '1'],
  );
  return { argv: stopPostArgv(requests[0]?.args ?? []), stateDir, journal, other };
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
  it('settles a run with neither an outcome nor the pending mark, and the other runs of its --all-ssh, with the same config', async () => {
    const { argv, journal, other } = await launchedStopPost();
    expect(runStopPost(argv)).toBe(
      `/opt/it's.mjs worker-stopped --run ${journal.runId} --also ${other.runId} --set s3.bucket=b\n`,
    );
  });

  it('starts no Node once the run has an outcome, or is pending for the next boot', async () => {
    const ended = await launchedStopPost();
    writeFileSync(join(ended.journal.paths.dir, 'outcome'), 'no-go\n');
    expect(runStopPost(ended.argv)).toBe('');
    const pending = await launchedStopPost();
    markPending(pending.stateDir, [pending.journal.runId]);
    expect(runStopPost(pending.argv)).toBe('');
  });
});
