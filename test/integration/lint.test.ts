import { ESLint } from 'eslint';
import { format, resolveConfig } from 'prettier';
import { describe, expect, it } from 'vitest';

const eslint = new ESLint();

/** The rules that fire on `code` as if it stood at `path` (a file of the tree, for the type-aware rules). */
async function rulesFired(path: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: path });
  return (result?.messages ?? []).map((m) => `${m.ruleId ?? 'parse'}: ${m.message}`);
}

describe('npm run lint', () => {
  it('accepts imports down the layers', async () => {
    const code = "import type { Runner } from '../tools/runner.js';\n\nexport type R = Runner;\n";
    expect(await rulesFired('src/steps/checkpoint/kexec.ts', code)).toEqual([]);
  });

  it('fails on an import that runs up a layer, and names it', async () => {
    const code = "import type { Output } from '../cli/output.js';\n\nexport type O = Output;\n";
    const fired = await rulesFired('src/engine/launch.ts', code);
    expect(fired.join('\n')).toContain('src/engine may not import src/cli, a layer above it');
  });

  it('fails on a process import outside src/tools', async () => {
    const code = "import { execa } from 'execa';\n\nexport const run = execa;\n";
    expect((await rulesFired('src/steps/checkpoint/kexec.ts', code)).join('\n')).toContain(
      'only src/tools/ may start processes',
    );
    expect(await rulesFired('src/tools/runner.ts', code)).toEqual([]);
  });

  it('fails on a type-aware rule: a promise left floating', async () => {
    const code = 'async function f(): Promise<void> {}\n\nexport function g(): void {\n  f();\n}\n';
    expect((await rulesFired('src/steps/checkpoint/kexec.ts', code)).join('\n')).toContain(
      '@typescript-eslint/no-floating-promises',
    );
  });

  it('fails on a file outside the layers', async () => {
    const fired = await rulesFired('src/phases/x.ts', 'export const x = 1;\n');
    expect(fired.join('\n')).toMatch(/not in a layer|not found by the project service/);
  });

  it('fails on unformatted code (prettier, with the project config)', async () => {
    const code = "export const x = {a:1,\n  b: 'two'}\n";
    const options = await resolveConfig('src/x.ts');
    const formatted = await format(code, { ...options, filepath: 'src/x.ts' });
    expect(formatted).not.toBe(code);
  });
});
