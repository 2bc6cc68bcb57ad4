import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { Journal } from '../../../src/state/journal.js';
import { writeOutcome } from '../../../src/state/outcome.js';
import { markPending } from '../../../src/state/pending.js';
import { listRuns, prunable, removeImages } from '../../../src/state/runs.js';

/** A state dir with one run per outcome, each with 1 KiB of images. */
function stateWithRuns(): string {
  const dir = mkdtempSync(join(tmpdir(), 'kl-runs-'));
  for (const [id, outcome] of [
    ['a-restored', 'restored'],
    ['b-failed', 'failed'],
    ['c-dumped', 'dumped'],
    ['d-nogo', 'no-go'],
    ['e-live', undefined],
    ['f-pending', 'dump-failed'],
    ['g-interrupted', 'interrupted'],
    ['h-aborted', 'aborted'],
  ] as const) {
    const journal = Journal.create(dir, 'upgrade', id);
    if (id === 'h-aborted') {
      // A worker killed during its rehearsal leaves the rehearsal's scratch images.
      mkdirSync(journal.paths.rehearsal);
      writeFileSync(join(journal.paths.rehearsal, 'pages-1.img'), Buffer.alloc(1024));
    } else writeFileSync(join(journal.paths.images, 'pages-1.img'), Buffer.alloc(1024));
    if (outcome) writeOutcome(journal.paths.dir, outcome);
  }
  markPending(dir, ['f-pending']);
  writeFileSync(join(dir, 'runs', 'a-restored', 'journal.json'), '{ torn');
  return dir;
}

describe('runs as data', () => {
  it('lists every run with its outcome, start and the size of its images, a torn journal included', () => {
    const runs = listRuns(stateWithRuns());
    expect(runs.map((r) => [r.runId, r.outcome, r.imagesBytes, r.pending])).toEqual([
      ['a-restored', 'restored', 1024, false],
      ['b-failed', 'failed', 1024, false],
      ['c-dumped', 'dumped', 1024, false],
      ['d-nogo', 'no-go', 1024, false],
      ['e-live', 'in progress', 1024, false],
      ['f-pending', 'dump-failed', 1024, true],
      ['g-interrupted', 'interrupted', 1024, false],
      ['h-aborted', 'aborted', 1024, false],
    ]);
    expect(runs[1]?.createdAt).toMatch(/^\d{4}-/);
    expect(runs[0]?.createdAt).toBeUndefined();
  });

  it('prunes only images nothing can restore any more: never pending, dumped or running ones; failed and interrupted ones when asked', () => {
    const dir = stateWithRuns();
    expect(prunable(listRuns(dir), false).map((r) => r.runId)).toEqual([
      'a-restored',
      'd-nogo',
      'h-aborted',
    ]);
    expect(prunable(listRuns(dir), true).map((r) => r.runId)).toEqual([
      'a-restored',
      'b-failed',
      'd-nogo',
      'g-interrupted',
      'h-aborted',
    ]);
    expect(removeImages(dir, 'a-restored')).toBe(1024);
    expect(listRuns(dir)[0]).toMatchObject({ runId: 'a-restored', imagesBytes: 0 });
    expect(removeImages(dir, 'h-aborted')).toBe(1024);
    expect(existsSync(join(dir, 'runs', 'h-aborted', 'rehearsal'))).toBe(false);
    expect(prunable(listRuns(dir), false).map((r) => r.runId)).toEqual(['d-nogo']);
  });
});
