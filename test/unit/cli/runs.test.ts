/**
 * `kernel-leap runs --since STAMP [--wait SECONDS]` on a scratch state dir whose
 * runs are journaled as the engine journals them: what each run and the runs
 * together say, the exit code, and the wait (bounded, with progress on stderr).
 * The fleet role reads its --json line (test/integration/ansible-role.test.ts).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { hostname, release, tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import type { CommandContext } from '../../../src/cli/command.js';
import { parseSince, runsCommand } from '../../../src/cli/commands/runs.js';
import { Output } from '../../../src/cli/output.js';
import { loadConfig } from '../../../src/config/load.js';
import { ExitCode } from '../../../src/errors.js';
import { FINAL_OUTCOMES, writeOutcome } from '../../../src/state/outcome.js';
import { scratchHost, ScriptedRunner } from '../../helpers/flow.js';
import { journalRun, NEW_KERNEL, OLD_KERNEL, shipRun } from '../../helpers/journaled-runs.js';

const BEFORE = '20261130T100000Z';
const SINCE = '20261130T110000Z';

interface Printed {
  stdout: string[];
  stderr: string[];
}

function runsContext(json: boolean, bucket = 'logs'): { ctx: CommandContext; printed: Printed } {
  const stateDir = mkdtempSync(join(tmpdir(), 'kl-runs-since-'));
  const printed: Printed = { stdout: [], stderr: [] };
  const sink = (lines: string[]) =>
    ({ write: (text: string) => lines.push(text) > 0 }) as unknown as NodeJS.WritableStream;
  const ctx: CommandContext = {
    runner: new ScriptedRunner(),
    host: scratchHost(),
    config: loadConfig({
      env: {},
      overrides: [`paths.state_dir=${stateDir}`, `s3.bucket=${bucket}`, 's3.prefix=fleet'],
    }).config,
    configFile: undefined,
    configOverrides: [],
    out: new Output(json, false, sink(printed.stdout), sink(printed.stderr)),
  };
  return { ctx, printed };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the result line's own shape
function resultOf(printed: Printed): any {
  const lines = printed.stdout
    .join('')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  return lines.find((l) => l.type === 'result');
}

describe('kernel-leap runs --since', () => {
  it('lists the runs since the stamp, each with its outcome, losses, report and S3 key, and what they say together', async () => {
    const { ctx, printed } = runsContext(true);
    journalRun(ctx.config.paths.state_dir, `${BEFORE}-0001`, { outcome: 'rehearsed' });
    const ticker = journalRun(ctx.config.paths.state_dir, `${SINCE}-aaaa`, {
      ptys: [0],
      outcome: 'restored',
      downtimeMs: 35_000,
    });
    const ansible = journalRun(ctx.config.paths.state_dir, `${SINCE}-bbbb`, {
      outcome: 'restored',
      downtimeMs: 36_500,
      upload: 'failed',
    });
    expect(await runsCommand.run(ctx, { since: SINCE }, [])).toBe(ExitCode.ok);
    const result = resultOf(printed);
    expect(result).toMatchObject({
      since: SINCE,
      kernel: release(),
      done: true,
      outcome: 'restored',
      carried: 2,
      downtimeMs: 36_500,
      reasons: [],
      endedBeforeDump: [],
      // Both sessions came back; alice's was not carried, and the kexec ended it with the tmux server.
      lost: ["alice's ssh session on pts/3: pid 900 (sshd: alice@pts/3)"],
      processesLeftBehind: ["a process of root's session outside the carried tree: pid 950 (tmux)"],
    });
    expect(result.runs).toHaveLength(2);
    expect(result.runs[0]).toMatchObject({
      runId: ticker.runId,
      outcome: 'restored',
      final: true,
      settled: true,
      caller: false,
      ptys: [0],
      oldKernel: OLD_KERNEL,
      newKernel: NEW_KERNEL,
      downtimeMs: 35_000,
      report: join(ticker.paths.dir, 'report.json'),
      s3: `s3://logs/fleet/${hostname()}/${ticker.runId}/`,
      uploaded: true,
    });
    // Its upload failed: spooled, where upload-logs will put it, and the reason is kept.
    expect(result.runs[1]).toMatchObject({
      runId: ansible.runId,
      caller: true,
      settled: true,
      s3: `s3://logs/fleet/${hostname()}/${ansible.runId}/`,
      uploaded: false,
      reasons: ['upload: no store'],
    });
    expect(printed.stdout.join('').trim().split('\n')).toHaveLength(1);
  });

  it('waits, on stderr, until every run is settled: the restore on the new kernel, then its report and upload', async () => {
    const { ctx, printed } = runsContext(false);
    const run = journalRun(ctx.config.paths.state_dir, `${SINCE}-aaaa`, { outcome: 'dumped' });
    setTimeout(() => writeOutcome(run.paths.dir, 'restored'), 300);
    setTimeout(() => shipRun(run, 'done'), 600);
    const started = performance.now();
    expect(await runsCommand.run(ctx, { since: SINCE, wait: '20' }, [])).toBe(ExitCode.ok);
    expect(performance.now() - started).toBeGreaterThanOrEqual(550);
    const stderr = printed.stderr.join('');
    expect(stderr).toContain(`· wait: waiting for run ${run.runId} (dumped); up to 20 s more`);
    expect(stderr).toContain(`waiting for run ${run.runId} (restored, shipping its logs)`);
    expect(stderr).toMatch(/✔ wait \(.+\): every run is settled/);
    expect(printed.stdout.join('')).toMatch(new RegExp(`^since ${SINCE}: restored, 1 carried\\n`));
  });

  it('gives up when the wait runs out, on the monotonic clock: exit 4, the run still under way', async () => {
    const { ctx, printed } = runsContext(true);
    journalRun(ctx.config.paths.state_dir, `${SINCE}-aaaa`, { outcome: 'dumped' });
    journalRun(ctx.config.paths.state_dir, `${SINCE}-bbbb`, {});
    const started = performance.now();
    expect(await runsCommand.run(ctx, { since: SINCE, wait: '1' }, [])).toBe(ExitCode.underWay);
    expect(performance.now() - started).toBeLessThan(3000);
    expect(resultOf(printed)).toMatchObject({ done: false, outcome: 'in progress' });
    expect(resultOf(printed).runs.map((r: { outcome: string }) => r.outcome)).toEqual([
      'dumped',
      'in progress',
    ]);
    // Without --wait it looks once.
    expect(await runsCommand.run(ctx, { since: SINCE }, [])).toBe(ExitCode.underWay);
  });

  it('does not wait on an interrupted run: every final outcome is one, and the worst one is what they say', async () => {
    expect(FINAL_OUTCOMES).toContain('interrupted');
    expect(FINAL_OUTCOMES).not.toContain('dumped');
    const { ctx, printed } = runsContext(true);
    journalRun(ctx.config.paths.state_dir, `${SINCE}-aaaa`, {
      ptys: [1],
      outcome: 'restored',
      downtimeMs: 30_000,
    });
    journalRun(ctx.config.paths.state_dir, `${SINCE}-bbbb`, {
      ptys: [0],
      outcome: 'interrupted',
      error: { phase: 'restore', message: 'not restored at boot: the machine restarted' },
    });
    expect(await runsCommand.run(ctx, { since: SINCE, wait: '30' }, [])).toBe(ExitCode.failure);
    expect(resultOf(printed)).toMatchObject({
      outcome: 'interrupted',
      waitedMs: expect.any(Number),
      carried: 1,
      reasons: ['restore: not restored at boot: the machine restarted'],
    });
    expect(resultOf(printed).waitedMs).toBeLessThan(1000);
    expect(resultOf(printed).lost[0]).toBe(`pts/0 (run ${SINCE}-bbbb: interrupted)`);
  });

  it.each([
    ['failed', ExitCode.restoreFailed],
    ['dump-failed', ExitCode.failure],
    ['aborted', ExitCode.failure],
  ] as const)('a run that ended %s: exit %i', async (outcome, code) => {
    const { ctx } = runsContext(false);
    journalRun(ctx.config.paths.state_dir, `${SINCE}-aaaa`, { outcome: 'restored' });
    journalRun(ctx.config.paths.state_dir, `${SINCE}-bbbb`, { outcome });
    expect(await runsCommand.run(ctx, { since: SINCE }, [])).toBe(code);
  });

  it("a rehearsal's no-go: exit 3, criu's failure as one line with its first error", async () => {
    const { ctx, printed } = runsContext(true, '');
    const log = '/var/lib/kernel-leap/runs/R2/logs/rehearsal.log';
    journalRun(ctx.config.paths.state_dir, `${SINCE}-aaaa`, {
      outcome: 'no-go',
      upload: 'off',
      rehearsalNoGo: [
        `criu dump failed (log: ${log}):`,
        'pie: 409: Daemon waits for command',
        '(04.721748) Error (criu/sockets.c:727): sockets: BUG! Unknown socket collected (family 38)',
        '(05.858052) Error (criu/cr-dump.c:2053): Dumping FAILED.',
      ].join('\n'),
    });
    expect(await runsCommand.run(ctx, { since: SINCE }, [])).toBe(ExitCode.noGo);
    expect(resultOf(printed)).toMatchObject({
      outcome: 'no-go',
      reasons: [
        `criu dump failed: sockets: BUG! Unknown socket collected (family 38); log: ${log}`,
      ],
      // Nothing was kexeced: what a kexec would have ended is no loss.
      lost: [],
      processesLeftBehind: [],
    });
    expect(resultOf(printed).runs[0]).toMatchObject({
      s3: null,
      uploaded: false,
      report: expect.any(String),
    });
  });

  it('leaves out a session that logged out before its dump: it lost nothing', async () => {
    const { ctx, printed } = runsContext(true);
    journalRun(ctx.config.paths.state_dir, `${SINCE}-aaaa`, { outcome: 'aborted', ended: true });
    journalRun(ctx.config.paths.state_dir, `${SINCE}-bbbb`, {
      outcome: 'restored',
      downtimeMs: 1000,
    });
    expect(await runsCommand.run(ctx, { since: SINCE }, [])).toBe(ExitCode.ok);
    expect(resultOf(printed)).toMatchObject({
      outcome: 'restored',
      carried: 1,
      endedBeforeDump: [`${SINCE}-aaaa`],
    });
    expect(resultOf(printed).runs[0]).toMatchObject({ endedBeforeDump: true });
  });

  it('waits for a run whose report or upload is still under way', async () => {
    const { ctx } = runsContext(false);
    journalRun(ctx.config.paths.state_dir, `${SINCE}-aaaa`, {
      outcome: 'restored',
      upload: 'pending',
    });
    expect(await runsCommand.run(ctx, { since: SINCE }, [])).toBe(ExitCode.underWay);
    const noReport = journalRun(ctx.config.paths.state_dir, '20261130T120000Z-bbbb', {
      outcome: 'dumped',
    });
    writeOutcome(noReport.paths.dir, 'restored');
    expect(await runsCommand.run(ctx, { since: '20261130T120000Z' }, [])).toBe(ExitCode.underWay);
  });

  it('with no run since the stamp: nothing to wait for, exit 0', async () => {
    const { ctx, printed } = runsContext(false);
    journalRun(ctx.config.paths.state_dir, `${BEFORE}-0001`, { outcome: 'failed' });
    expect(await runsCommand.run(ctx, { since: SINCE, wait: '5' }, [])).toBe(ExitCode.ok);
    expect(printed.stdout.join('')).toBe(`no run since ${SINCE}\n`);
  });

  it('takes a stamp as `date -u` prints it, or an ISO 8601 instant with its zone; anything else is a usage error', async () => {
    expect(parseSince('20261130T110000Z')).toBe('20261130T110000Z');
    expect(parseSince('2026-11-30T11:00:00Z')).toBe('20261130T110000Z');
    expect(parseSince('2026-11-30T12:00:00.250+01:00')).toBe('20261130T110000Z');
    for (const bad of ['yesterday', '2026-11-30T11:00:00', '20261130'])
      expect(() => parseSince(bad)).toThrow(expect.objectContaining({ exit: ExitCode.usage }));
    const { ctx } = runsContext(false);
    await expect(runsCommand.run(ctx, { wait: '5' }, [])).rejects.toMatchObject({
      exit: ExitCode.usage,
      message: 'kernel-leap runs: --wait needs --since STAMP',
    });
    await expect(runsCommand.run(ctx, { since: SINCE, wait: '5m' }, [])).rejects.toMatchObject({
      exit: ExitCode.usage,
    });
  });

  it('says so when a run has no journal to read', async () => {
    const { ctx, printed } = runsContext(true);
    const run = journalRun(ctx.config.paths.state_dir, `${SINCE}-aaaa`, { outcome: 'restored' });
    writeFileSync(run.paths.journal, '{ torn');
    expect(await runsCommand.run(ctx, { since: SINCE }, [])).toBe(ExitCode.ok);
    expect(resultOf(printed).runs[0]).toMatchObject({
      outcome: 'restored',
      reasons: [`${run.paths.journal} is missing or unreadable`],
    });
  });
});
