import { mkdtempSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { Journal, parseJournalFile } from '../../../src/state/journal.js';
import type { PhaseOutput } from '../../../src/state/phase-outputs.js';
import { type PhaseName, PHASES } from '../../../src/state/phase-table.js';

const stateDir = () => mkdtempSync(join(tmpdir(), 'kl-state-'));

describe('Journal', () => {
  it('creates a 0700 run dir with a 0600 journal, images/, logs/ and a latest pointer', () => {
    const dir = stateDir();
    const journal = Journal.create(dir, 'upgrade', 'run-1');
    expect(statSync(journal.paths.dir).mode & 0o777).toBe(0o700);
    expect(statSync(journal.paths.images).mode & 0o777).toBe(0o700);
    expect(statSync(journal.paths.journal).mode & 0o777).toBe(0o600);
    expect(readlinkSync(join(dir, 'latest'))).toBe('runs/run-1');
    expect(Journal.open(dir).runId).toBe('run-1');
  });

  it('records phase status, times, durations and outputs, and reopens them', () => {
    const dir = stateDir();
    const journal = Journal.create(dir, 'upgrade', 'run-2');
    journal.start('dump');
    journal.finish('dump', { imagesBytes: 42 });
    journal.mark('freeze');
    journal.addArtefact('/etc/systemd/system/kernel-leap-restore.service');
    const reopened = Journal.open(dir, 'run-2').snapshot;
    expect(reopened.phases.dump.status).toBe('done');
    expect(reopened.phases.dump.outputs).toEqual({ imagesBytes: 42 });
    expect(reopened.phases.dump.durationMs).toBeGreaterThanOrEqual(0);
    expect(reopened.marks.freeze).toMatch(/^\d{4}-/);
    expect(reopened.artefacts).toEqual(['/etc/systemd/system/kernel-leap-restore.service']);
  });

  it('refuses transitions outside the table and leaves the journal unchanged', () => {
    const journal = Journal.create(stateDir(), 'upgrade', 'run-3');
    expect(() => journal.finish('dump')).toThrowError(
      'invalid transition pending -> done for phase dump',
    );
    journal.start('dump');
    journal.finish('dump');
    expect(() => journal.start('dump')).toThrowError(/done -> running/);
    expect(journal.phase('dump').status).toBe('done');
  });

  it('refuses a journal of an unknown schema', () => {
    const dir = stateDir();
    const journal = Journal.create(dir, 'upgrade', 'run-4');
    writeFileSync(journal.paths.journal, JSON.stringify({ ...journal.snapshot, schema: 99 }));
    expect(() => Journal.open(dir)).toThrowError(/schema 99, this kernel-leap reads schema 1/);
  });

  it('names the state dir in the hint for an unknown run', () => {
    const dir = stateDir();
    Journal.create(dir, 'upgrade', 'run-x');
    expect(() => Journal.open(dir, 'nope')).toThrowError(
      expect.objectContaining({
        code: 'RUN_NOT_FOUND',
        hint: `list runs with: ls ${dir}/runs (kernel-leap status shows the latest)`,
      }),
    );
  });

  it('says how to start when there is no run yet', () => {
    expect(() => Journal.open(stateDir())).toThrowError(
      expect.objectContaining({ code: 'NO_RUNS' }),
    );
  });

  it('leaves no temp file behind', () => {
    const journal = Journal.create(stateDir(), 'upgrade', 'run-5');
    journal.start('plan');
    expect(readFileSync(journal.paths.journal, 'utf8')).toContain('"running"');
  });
});

/** A realistic output of every phase, as the engine journals them. */
const OUTPUTS: { [P in PhaseName]: PhaseOutput<P> } = {
  plan: {
    rootPid: 441,
    pids: [441, 442],
    verdict: 'go',
    connections: [{ local: { ip: '10.0.2.15', port: 22 }, peer: { ip: '10.0.2.2', port: 40000 } }],
    ptys: [0],
    leftBehind: [
      {
        kind: 'ssh-session',
        pid: 500,
        user: 'alice',
        tty: 'pts/1',
        cmdline: 'sshd: alice@pts/1',
        level: 'fail',
      },
    ],
  },
  rehearse: { verdict: 'no-go', reasons: ['task 442 was left stopped'], hint: 'see rehearsal.log' },
  pre: { command: 'apt-get -y dist-upgrade', exitCode: 0, durationMs: 9000 },
  load: {
    from: '6.1.0-55-cloud-amd64',
    to: '6.1.0-56-cloud-amd64',
    vmlinuz: '/boot/vmlinuz-6.1.0-56-cloud-amd64',
    initrd: '/boot/initrd.img-6.1.0-56-cloud-amd64',
    cmdline: 'root=/dev/vda1 kernel_leap=R1',
  },
  prepare: {
    units: ['kernel-leap-rules.service', 'kernel-leap-restore.service'],
    artefacts: ['/etc/systemd/system/kernel-leap-restore.service'],
    clockOffsetMs: -120,
  },
  dump: { durationMs: 850, imagesBytes: 4_200_000 },
  kexec: { bootedKernel: '6.1.0-56-cloud-amd64' },
  restore: {
    rootPidHost: 429,
    rootPidInNs: 441,
    criuPid: 428,
    scope: 'kernel-leap-session-R1.scope',
    nsenter: 'nsenter -t 429 -p -m',
    ptyRemaps: [{ from: 0, to: 1 }],
    fifos: ['/tmp/f'],
    socketDirs: ['/run/user/1000'],
    degraded: [],
    rulesRemovedAfterRestore: 0,
    clockOffsetMs: 80,
  },
  cleanup: { removed: ['/etc/systemd/system/kernel-leap-restore.service'], failed: [] },
  report: {},
  upload: { bucket: 'b', prefix: 'p/kl-guest/R1', keys: ['journal.json'] },
};

/** JSON as parsed, of any shape: the tests break it. */
type Parsed = ReturnType<typeof JSON.parse>;

/** Rewrites the run's journal.json with `change` applied to its JSON. */
function tamper(journal: Journal, change: (data: Parsed) => void): void {
  const data = JSON.parse(readFileSync(journal.paths.journal, 'utf8'));
  change(data);
  writeFileSync(journal.paths.journal, JSON.stringify(data));
}

describe('the typed journal', () => {
  it.each(PHASES)('reads back what the %s phase journaled, as written', (name) => {
    const dir = stateDir();
    const journal = Journal.create(dir, 'upgrade', `run-${name}`);
    journal.start(name);
    journal.finish(name, OUTPUTS[name]);
    expect(Journal.open(dir, `run-${name}`).output(name)).toEqual(OUTPUTS[name]);
  });

  it('fails on a field of another type, naming the run and the field', () => {
    const dir = stateDir();
    const journal = Journal.create(dir, 'upgrade', 'run-typed');
    journal.start('load');
    journal.finish('load', OUTPUTS.load);
    tamper(journal, (data) => (data.phases.load.outputs.cmdline = 42));
    expect(() => Journal.open(dir, 'run-typed')).toThrowError(
      expect.objectContaining({
        code: 'JOURNAL_INVALID',
        message: `run run-typed: journal field phases.load.outputs.cmdline is number 42, expected string (${journal.paths.journal})`,
        hint: expect.stringContaining('correct phases.load.outputs.cmdline in'),
      }),
    );
  });

  it('names a missing field, a value outside its set, and an entry of a list by its index', () => {
    const dir = stateDir();
    const journal = Journal.create(dir, 'upgrade', 'run-shapes');
    journal.start('plan');
    journal.finish('plan', OUTPUTS.plan);
    const opened = () => Journal.open(dir, 'run-shapes');
    tamper(journal, (data) => delete data.marks);
    expect(opened).toThrowError('run run-shapes: journal field marks is missing, expected record');
    tamper(journal, (data) => {
      data.marks = {};
      data.phases.dump.status = 'halfway';
    });
    expect(opened).toThrowError(
      'journal field phases.dump.status is string "halfway", expected one of "pending", "running", "done", "failed", "skipped"',
    );
    tamper(journal, (data) => {
      data.phases.dump.status = 'pending';
      data.phases.plan.outputs.connections[0].peer.port = '40000';
    });
    expect(opened).toThrowError(
      'journal field phases.plan.outputs.connections[0].peer.port is string "40000", expected number',
    );
  });

  it('reads a run journaled by an older build, which lacks the fields added since', () => {
    const dir = stateDir();
    const journal = Journal.create(dir, 'upgrade', 'run-old');
    journal.start('plan');
    journal.finish('plan', OUTPUTS.plan);
    tamper(journal, (data) => delete data.phases.plan.outputs.leftBehind);
    const plan = Journal.open(dir, 'run-old').output('plan');
    expect(plan?.leftBehind).toBeUndefined();
    expect(plan?.rootPid).toBe(441);
  });

  it('keeps fields it does not read, through an open and a save', () => {
    const dir = stateDir();
    const journal = Journal.create(dir, 'upgrade', 'run-kept');
    journal.start('plan');
    // As planSummary's: more than the schema names, which is kept for people.
    const summary = { ...OUTPUTS.plan, risks: [{ level: 'warn', what: 'a FIFO' }] };
    journal.finish('plan', summary);
    tamper(journal, (data) => (data.addedLater = { by: 'a newer build' }));
    Journal.open(dir, 'run-kept').mark('freeze');
    const data = JSON.parse(readFileSync(journal.paths.journal, 'utf8'));
    expect(data.phases.plan.outputs.risks).toEqual([{ level: 'warn', what: 'a FIFO' }]);
    expect(data.addedLater).toEqual({ by: 'a newer build' });
  });

  it('leaves an invalid run out of a listing, as a torn one', () => {
    const journal = Journal.create(stateDir(), 'upgrade', 'run-listed');
    tamper(journal, (data) => (data.changes = 'none'));
    expect(parseJournalFile(journal.paths.journal)).toBeUndefined();
  });

  it('types what the engine journals', () => {
    const journal = Journal.create(stateDir(), 'upgrade', 'run-types');
    journal.start('load');
    // @ts-expect-error a command line is text
    journal.finish('load', { ...OUTPUTS.load, cmdline: 42 });
    expect(journal.output('load')?.cmdline).toBe(42);
  });
});
