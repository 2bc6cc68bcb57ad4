import { describe, expect, it } from 'vitest';

import { renderReport } from '../../../../src/cli/commands/report.js';
import type { JournalData } from '../../../../src/state/journal.js';
import { PHASES } from '../../../../src/state/phase-table.js';
import { buildReport, correctedMarks } from '../../../../src/steps/report/report.js';

function journal(over: Partial<JournalData> = {}): JournalData {
  const phases = Object.fromEntries(
    PHASES.map((p) => [p, { status: 'pending' }]),
  ) as JournalData['phases'];
  return {
    schema: 1,
    runId: 'r1',
    host: 'kl-guest',
    command: 'upgrade',
    createdAt: '2026-11-22T12:00:00.000Z',
    phases,
    artefacts: [],
    changes: [],
    marks: {},
    ...over,
  };
}

describe('report', () => {
  const base = journal({
    marks: {
      'dump.freeze': '2026-11-22T12:04:34.956Z',
      kexec: '2026-11-22T12:04:35.891Z',
      kernelBoot: '2026-11-22T12:04:38.856Z',
      restored: '2026-11-22T12:05:10.804Z',
      unlocked: '2026-11-22T12:05:11.013Z',
    },
  });
  base.phases.load = {
    status: 'done',
    outputs: { from: '6.1.0-55-cloud-amd64', to: '6.1.0-56-cloud-amd64' },
  };
  base.phases.plan = { status: 'done', outputs: { rootPid: 441 } };
  base.phases.restore = {
    status: 'done',
    outputs: {
      rootPidHost: 429,
      rootPidInNs: 441,
      nsenter: 'nsenter -t 429 -p -m',
      ptyRemaps: [{ from: 0, to: 1 }],
      degraded: [],
    },
  };

  it('gives kernels, new pids, remaps, the timeline and the downtime from freeze to unlocked', () => {
    const r = buildReport(base, 'restored');
    expect(r).toMatchObject({
      outcome: 'restored',
      oldKernel: '6.1.0-55-cloud-amd64',
      newKernel: '6.1.0-56-cloud-amd64',
      sessionRoot: 441,
      remapped: ['pts/0 -> pts/1'],
      downtimeMs: 36057,
      freezeToExecMs: 935,
    });
    expect(r.timeline.map((t) => t.name)).toEqual([
      'dump.freeze',
      'kexec',
      'kernelBoot',
      'restored',
      'unlocked',
    ]);
    const text = renderReport(r);
    expect(text).toContain('kernel: 6.1.0-55-cloud-amd64 -> 6.1.0-56-cloud-amd64');
    expect(text).toContain('downtime: 36.1 s (freeze to kexec 935 ms)');
    expect(text).toContain('remapped: pts/0 -> pts/1');
    expect(text).toContain('nsenter -t 429 -p -m');
  });

  it('says what became of each address the restore put back early, one line each', () => {
    const taken =
      '10.0.2.15/24 on eth0: on another interface at boot, not put back; the restore waited for the network stack';
    const r = buildReport(
      {
        ...base,
        changes: [
          { at: '2026-11-22T12:04:50.000Z', kind: 'early-address', path: 'eth0', detail: taken },
          { at: '2026-11-22T12:04:51.000Z', kind: 'restore-again', path: '/x', detail: 'other' },
        ],
      },
      'restored',
    );
    expect(r.addresses).toEqual([taken]);
    expect(renderReport(r)).toContain(`address: ${taken}`);
  });

  it('ends the downtime when the session is resumed, after every tree is restored, or at the unlock if that came later', () => {
    const j = structuredClone(base);
    j.marks.resumed = '2026-11-22T12:05:12.013Z';
    const r = buildReport(j, 'restored');
    expect(r.downtimeMs).toBe(36057 + 1000);
    expect(r.timeline.map((t) => t.name).slice(-3)).toEqual(['restored', 'unlocked', 'resumed']);
    // restore-boot.sh resumed before Node removed a lock rule left in force: the session talked only then.
    j.marks.resumed = '2026-11-22T12:05:10.900Z';
    expect(buildReport(j, 'restored').downtimeMs).toBe(36057);
  });

  it('puts both boots on the RTC scale when each measured its clock offset', () => {
    const j = structuredClone(base);
    j.phases.prepare = { status: 'done', outputs: { clockOffsetMs: 200 } };
    j.phases.restore = {
      ...j.phases.restore,
      outputs: { ...j.phases.restore.outputs, clockOffsetMs: -700 },
    };
    const marks = correctedMarks(j);
    expect(marks['dump.freeze']).toBe('2026-11-22T12:04:34.756Z');
    expect(marks.restored).toBe('2026-11-22T12:05:11.504Z');
    expect(buildReport(j, 'restored').downtimeMs).toBe(36057 + 900);
  });

  it('says which phase failed, why, and what to do', () => {
    const j = journal({ marks: { 'dump.freeze': '2026-11-22T12:04:34.956Z' } });
    j.phases.dump = {
      status: 'failed',
      durationMs: 900,
      error: {
        code: 'CRIU_DUMP_FAILED',
        message: 'criu dump failed (log: x)\nError ...',
        hint: 'see dump.log',
      },
    };
    const r = buildReport(j, undefined);
    expect(r.outcome).toBe('dump-failed');
    expect(renderReport(r)).toMatch(/dump\s+failed: criu dump failed \(log: x\)/);
    expect(renderReport(r)).toContain('what to do (dump): see dump.log');
  });
});
