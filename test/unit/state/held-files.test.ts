/** `<run>/held-files.json`: what prepare writes, what the copy adds, read back through its schema. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import {
  type HeldFile,
  plannedHeldFiles,
  readHeldFiles,
  writeHeldFiles,
} from '../../../src/state/held-files.js';

const HELD: HeldFile = {
  path: '/tmp/build/a.o',
  dev: 2049,
  ino: 77,
  size: 16,
  uid: 1000,
  gid: 1000,
  mode: 0o644,
  root: '/tmp',
  dirs: [{ path: '/tmp/build', uid: 1000, gid: 1000, mode: 0o755 }],
};

describe('the list of held files', () => {
  it('is each planned file with its index, then each with its copy, read back as written', () => {
    const run = mkdtempSync(join(tmpdir(), 'kl-held-json-'));
    const planned = plannedHeldFiles([HELD, { ...HELD, path: '/tmp/b', ino: 78 }]);
    expect(planned.files.map((f) => f.index)).toEqual([0, 1]);
    writeHeldFiles(run, planned);
    expect(readHeldFiles(run)).toEqual(planned);
    const copied = {
      schema: 1 as const,
      files: [
        { ...planned.files[0]!, copy: { state: 'copied' as const, bytes: 16 } },
        {
          ...planned.files[1]!,
          copy: { state: 'not-copied' as const, why: 'the path is a symlink now' },
        },
      ],
    };
    writeHeldFiles(run, copied);
    expect(readHeldFiles(run)).toEqual(copied);
  });

  it('is empty for a run without one (prepared before held files were kept, or holding none)', () => {
    expect(readHeldFiles(mkdtempSync(join(tmpdir(), 'kl-held-none-')))).toEqual({
      schema: 1,
      files: [],
    });
  });

  it('is refused with the field that is wrong, or when it is no JSON', () => {
    const run = mkdtempSync(join(tmpdir(), 'kl-held-bad-'));
    const file = join(run, 'held-files.json');
    writeFileSync(file, JSON.stringify({ schema: 1, files: [{ ...HELD, index: 0, uid: 'root' }] }));
    expect(() => readHeldFiles(run)).toThrow(
      expect.objectContaining({
        code: 'HELD_FILES_INVALID',
        message: expect.stringContaining('has a bad field files.0.uid'),
      }),
    );
    writeFileSync(
      file,
      JSON.stringify({ schema: 1, files: [{ ...HELD, index: 0, copy: { state: 'maybe' } }] }),
    );
    expect(() => readHeldFiles(run)).toThrow(
      expect.objectContaining({ code: 'HELD_FILES_INVALID' }),
    );
    writeFileSync(file, '{');
    expect(() => readHeldFiles(run)).toThrow(/is not valid JSON/);
  });
});
