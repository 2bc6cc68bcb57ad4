/**
 * A process title is its user's to write, escape sequences included. What plan,
 * upgrade and report print of it must reach root's terminal escaped: no window
 * title set (OSC 0), no screen cleared (CSI 2J), no text reversed (U+202E).
 */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';

import { describe, expect, it } from 'vitest';

import { renderPlan } from '../../../src/cli/commands/plan.js';
import { renderReport } from '../../../src/cli/commands/report.js';
import { previewText } from '../../../src/cli/commands/upgrade.js';
import { Output } from '../../../src/cli/output.js';
import { loadConfig } from '../../../src/config/load.js';
import { PHASES } from '../../../src/state/phase-table.js';
import { plan } from '../../../src/steps/plan/classify.js';
import { collectFacts } from '../../../src/steps/plan/facts.js';
import { describeLoss } from '../../../src/steps/plan/losses.js';
import { bindPlan } from '../../../src/steps/plan/session-plan.js';
import { buildReport } from '../../../src/steps/report/report.js';
import { snapshotProc } from '../../../src/tools/procfs.js';
import { sshSession } from '../../helpers/proc-fixture.js';

const HOSTILE = '\x1b]0;pwned\x07\x1b[2J\u202egnp.exe';
const ESCAPED = '\\x1b]0;pwned\\x07\\x1b[2J\\u202egnp.exe';
/** Any byte a terminal would act on, or that reorders what it shows. */
const RAW = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/;

/** Who a hostile user is: a title, a process name and a path of theirs in the session's tree. */
function hostilePlan() {
  const proc = snapshotProc(
    sshSession({
      extraTasks: [
        {
          pid: 600,
          ppid: 447,
          name: `x${HOSTILE}`,
          cmdline: `sleep${HOSTILE}`,
          ns: { ipc: 'ipc:[4026532000]' },
          fds: {
            5: { target: `/tmp/${HOSTILE} (deleted)`, stat: { mode: 0o100600, size: 10 } },
          },
        },
      ],
    }),
  );
  const config = loadConfig({ env: {}, file: undefined }).config;
  return bindPlan(plan(collectFacts(proc, 441, new Map(), new Set(), '3.17.1')), config);
}

const ROOT = { pid: 441, name: 'sshd', cmdline: `sshd: root@pts/0 ${HOSTILE}` };

/** An Output whose text goes to strings. */
function capture(): { out: Output; stdout: () => string; stderr: () => string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const read = (s: PassThrough) => () => String(s.read() ?? '');
  return {
    out: new Output(false, false, stdout, stderr),
    stdout: read(stdout),
    stderr: read(stderr),
  };
}

function expectEscaped(text: string, times = 1): void {
  expect(text).not.toMatch(RAW);
  expect(text.split(ESCAPED).length - 1).toBeGreaterThanOrEqual(times);
}

describe('a hostile process title', () => {
  it('shows escaped in the plan: the session root, the risks naming its process and its file', () => {
    const p = hostilePlan();
    expect(p.risks.map((r) => r.code)).toEqual(
      expect.arrayContaining(['NESTED_NAMESPACE', 'GHOST']),
    );
    const { out, stdout } = capture();
    out.result({}, () => renderPlan(p, ROOT));
    const text = stdout();
    // The title, the process name in NESTED_NAMESPACE's line and hint, and the deleted file's path.
    expectEscaped(text, 3);
    expect(text).toContain(`session root: 441 (sshd: root@pts/0 ${ESCAPED})`);
    // Wrapped to a narrow terminal, an escape is cut across lines but never shown raw.
    out.result({}, () => renderPlan(p, ROOT, 40));
    expect(stdout()).not.toMatch(RAW);
  });

  it("shows escaped in upgrade's plan, printed before it asks", () => {
    const { out, stderr } = capture();
    out.aside(previewText([hostilePlan()], [ROOT], undefined, undefined));
    const text = stderr();
    expectEscaped(text, 3);
    expect(text).toContain('verdict: no-go');
  });

  it('shows escaped in the report, on its own line: what was left behind and what was degraded', () => {
    const phases = Object.fromEntries(PHASES.map((p) => [p, { status: 'pending' }]));
    const journal = {
      schema: 1,
      runId: 'r1',
      host: 'kl-guest',
      command: 'upgrade',
      createdAt: '2026-11-22T12:00:00.000Z',
      phases: {
        ...phases,
        plan: {
          status: 'done',
          outputs: {
            rootPid: 441,
            leftBehind: [
              {
                kind: 'ssh-session',
                pid: 600,
                user: `alice\n${HOSTILE}`,
                tty: 'pts/1',
                cmdline: `sshd: alice@pts/1 ${HOSTILE}`,
                level: 'warn',
              },
            ],
          },
        },
        restore: {
          status: 'failed',
          outputs: { degraded: [`unix socket ${HOSTILE}: closed`] },
          error: {
            code: 'RESTORE_FAILED',
            message: `criu: ${HOSTILE}`,
            hint: `look at ${HOSTILE}`,
          },
        },
      },
      artefacts: [],
      changes: [],
      marks: {},
    } as unknown as Parameters<typeof buildReport>[0];
    const report = buildReport(journal, 'failed');
    expect(report.leftBehind[0]).toBe(
      describeLoss(journal.phases.plan.outputs?.leftBehind?.[0] as never),
    );
    const { out, stdout } = capture();
    out.result(report, renderReport);
    const text = stdout();
    expectEscaped(text, 5);
    // The user's newline does not start a line of its own.
    expect(text).toMatch(
      /^left behind: alice\\n\\x1b\]0;pwned.*'s ssh session on pts\/1: pid 600/m,
    );
  });

  it('is escaped in progress lines, in the files the launcher cats, and in errors', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kl-progress-'));
    const { out, stderr } = capture();
    out.mirrorTo(dir);
    out.progress({ phase: 'plan', state: 'info', message: `root 441 (${HOSTILE})` });
    out.error({ code: 'X', message: `no ${HOSTILE}`, hint: `kill ${HOSTILE}` });
    expectEscaped(stderr(), 3);
    const mirrored = readdirSync(dir).map((f) => readFileSync(join(dir, f), 'utf8'));
    expect(mirrored).toHaveLength(1);
    expectEscaped(mirrored.join(''));
  });

  it('stays JSON with --json, with C1 and bidi characters escaped too', () => {
    const stdout = new PassThrough();
    new Output(true, false, stdout).result({ cmdline: `${HOSTILE}\x9b` }, () => '');
    const line = String(stdout.read());
    expect(line).not.toMatch(RAW);
    expect(JSON.parse(line)).toEqual({ type: 'result', cmdline: `${HOSTILE}\x9b` });
  });
});
