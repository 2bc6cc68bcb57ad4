import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { describe, expect, it } from 'vitest';

/** Runs scripts/lint-boundaries.mjs on a tree of the given files. */
function lint(files: Record<string, string>): { status: number | null; stderr: string } {
  const src = join(mkdtempSync(join(tmpdir(), 'kl-lint-')), 'src');
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(src, path)), { recursive: true });
    writeFileSync(join(src, path), text);
  }
  const result = spawnSync(process.execPath, ['scripts/lint-boundaries.mjs', src], {
    encoding: 'utf8',
  });
  return { status: result.status, stderr: result.stderr };
}

describe('npm run lint (the layers)', () => {
  it('passes the real tree', () => {
    expect(
      spawnSync(process.execPath, ['scripts/lint-boundaries.mjs'], { encoding: 'utf8' }).status,
    ).toBe(0);
  });

  it('accepts imports down the layers', () => {
    expect(
      lint({
        'cli/a.ts': "import { b } from '../engine/b.js';",
        'engine/b.ts': "import { c } from '../steps/c.js';",
        'steps/c.ts': "import { d } from '../tools/d.js';",
        'tools/d.ts': "import { execa } from 'execa';",
      }).status,
    ).toBe(0);
  });

  it('fails on an import that runs up a layer, and names it', () => {
    const result = lint({
      'steps/dump.ts': "import type { Journal } from '../engine/journal.js';",
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('steps imports engine/journal.js, a layer above it');
    expect(
      lint({ 'engine/step.ts': "import type { Output } from '../cli/output.js';" }).status,
    ).toBe(1);
  });

  it('fails on a process import outside src/tools, and on a folder outside the layers', () => {
    expect(lint({ 'steps/x.ts': "import { execa } from 'execa';" }).stderr).toContain(
      'only src/tools/ may',
    );
    expect(lint({ 'phases/x.ts': 'export const x = 1;' }).stderr).toContain('not in a layer');
  });
});
