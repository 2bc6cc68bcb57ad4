import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { describe, expect, it } from 'vitest';

import { ExecaRunner, type RunEvent } from '../../src/tools/runner.js';

const BIN = resolve('test/integration/fixtures/bin');
const env = { PATH: `${BIN}:${process.env.PATH ?? ''}` };

const unexpected = (): never => {
  throw new Error('expected the command to fail');
};

function runnerWithLog(): { runner: ExecaRunner; events: () => RunEvent[]; file: string } {
  const file = join(mkdtempSync(join(tmpdir(), 'kl-runner-')), 'commands.jsonl');
  const runner = new ExecaRunner(file);
  const events = () =>
    readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as RunEvent);
  return { runner, events, file };
}

describe('ExecaRunner against real executables', () => {
  it('returns output and logs argv, exit code, duration and tails as one JSON line', async () => {
    const { runner, events, file } = runnerWithLog();
    const result = await runner.run({ file: 'kl-exit', args: ['0', 'a b'], env });
    expect(result.stdout).toBe('out: 0 a b\n');
    expect(result.exitCode).toBe(0);
    const [event] = events();
    expect(event).toMatchObject({
      argv: ['kl-exit', '0', 'a b'],
      exitCode: 0,
      stdoutTail: 'out: 0 a b\n',
      stderrTail: 'err: 0 a b\n',
    });
    expect(event?.durationMs).toBeGreaterThanOrEqual(0);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('turns a non-zero exit into COMMAND_FAILED with the stderr tail, unless the code is allowed', async () => {
    const { runner, events } = runnerWithLog();
    await expect(runner.run({ file: 'kl-exit', args: ['7'], env })).rejects.toMatchObject({
      code: 'COMMAND_FAILED',
      message: expect.stringMatching(/kl-exit 7 exited with 7: err: 7/),
    });
    expect(events()[0]).toMatchObject({ exitCode: 7, error: 'exited with 7' });
    await expect(
      runner.run({ file: 'kl-exit', args: ['7'], env, okCodes: [0, 7] }),
    ).resolves.toMatchObject({ exitCode: 7 });
  });

  it('names the Debian package when a tool is missing', async () => {
    const { runner } = runnerWithLog();
    await expect(runner.run({ file: 'crit', env: { PATH: BIN } })).rejects.toMatchObject({
      code: 'TOOL_MISSING',
      hint: 'install it: apt-get install criu',
    });
  });

  it('kills a command at its timeout', async () => {
    const { runner } = runnerWithLog();
    const started = Date.now();
    await expect(
      runner.run({ file: 'kl-sleep', args: ['30'], env, timeoutMs: 300 }),
    ).rejects.toMatchObject({
      code: 'COMMAND_TIMEOUT',
      message: expect.stringMatching(/timed out after 300 ms/),
    });
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('says a command that could not start could not, and why, rather than "exited with undefined"', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kl-runner-bin-'));
    writeFileSync(join(dir, 'kl-not-executable'), '#!/bin/sh\nexit 0\n', { mode: 0o644 });
    const { runner, events } = runnerWithLog();
    await expect(
      runner.run({ file: 'kl-not-executable', env: { PATH: dir } }),
    ).rejects.toMatchObject({
      code: 'COMMAND_FAILED',
      message:
        'kl-not-executable could not start: permission denied (not executable by this user, or a directory on the way is not searchable)',
      hint: 'check that kl-not-executable is executable by this user, or rerun as root',
    });
    expect(events()[0]?.error).not.toContain('undefined');
  });

  it('reports death by signal', async () => {
    const { runner } = runnerWithLog();
    await expect(runner.run({ file: 'kl-kill-self', env })).rejects.toMatchObject({
      message: expect.stringMatching(/killed by SIGTERM/),
    });
  });

  it('keeps only a bounded tail of a huge stderr in the log and the error', async () => {
    const { runner, events } = runnerWithLog();
    const error = await runner.run({ file: 'kl-noisy', env }).then(unexpected, (e: Error) => e);
    expect(error.message).toMatch(/LAST LINE$/);
    expect(error.message.length).toBeLessThan(1000);
    const [event] = events();
    expect(event?.stderrTail.length).toBeLessThanOrEqual(2001);
    expect(event?.stderrTail).toMatch(/LAST LINE\n$/);
  });

  it('masks secrets in the log and in errors', async () => {
    const { runner, file } = runnerWithLog();
    const secret = 'AKIA-SECRET-123';
    await runner.run({ file: 'kl-exit', args: ['0', `--key=${secret}`], env, secrets: [secret] });
    const error = await runner
      .run({ file: 'kl-exit', args: ['1', secret], env, secrets: [secret] })
      .then(unexpected, (e: Error) => e);
    expect(readFileSync(file, 'utf8')).not.toContain(secret);
    expect(readFileSync(file, 'utf8')).toContain('--key=***');
    expect(String(error.message)).not.toContain(secret);
  });
});
