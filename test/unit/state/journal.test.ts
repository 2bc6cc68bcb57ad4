import { mkdtempSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { Journal } from '../../../src/state/journal.js';

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
