// `npm run mutants`: breaks, one at a time in a scratch copy of the tree, each
// behaviour the fast flow tests guard (issue "Shape"), runs the unit tests, and
// says which tests caught it. A mutant no test catches is a hole in the suite.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const MUTANTS = [
  [
    '1 the pending mark is not cleared at boot',
    'src/state/pending.ts',
    '  clearPending(stateDir);\n  return runIds;',
    '  return runIds;',
  ],
  [
    '2 boot cleanup is skipped',
    'src/engine/restore-run.ts',
    'removeBootArtefacts(',
    '(async (_: unknown) => ({ removed: [], failed: [] }))(',
  ],
  [
    '3 no SIGCONT after a failed dump',
    'src/steps/checkpoint/dump.ts',
    "process.kill(pid, 'SIGCONT');",
    '',
  ],
  [
    '4 the default kernel is the oldest',
    'src/tools/kexec.ts',
    'const newest = others.at(-1);',
    'const newest = others.at(0);',
  ],
  [
    '5 --pid validation is off',
    'src/cli/commands/session-options.ts',
    'if (pid !== undefined && (!Number.isInteger(pid) || pid <= 0)) {',
    'if (false) {',
  ],
  [
    '6 the units are never enabled',
    'src/steps/checkpoint/prepare.ts',
    '  await enableUnits(input.runner, units);\n',
    '',
  ],
  [
    '7 no sync before the kexec',
    'src/engine/worker-run.ts',
    "  await ctx.runner.run({ file: 'sync', timeoutMs: 120_000 });\n",
    '',
  ],
  [
    '8 window scaling is not set during the restore',
    'src/steps/restore/restore.ts',
    'manifest.connections.length > 0 ? withSysctl(',
    'false ? withSysctl(',
  ],
  [
    '9 the caller is not last (discover)',
    'src/steps/plan/discover.ts',
    'return [...roots.filter((r) => r.pid !== own), ...roots.filter((r) => r.pid === own)];',
    'return [...roots.filter((r) => r.pid === own), ...roots.filter((r) => r.pid !== own)];',
  ],
  [
    '9 the caller is not dumped last (worker)',
    'src/engine/worker-run.ts',
    "    for (const run of runs) {\n      await stepInRun(ctx, run.journal, 'dump'",
    "    for (const run of [...runs].reverse()) {\n      await stepInRun(ctx, run.journal, 'dump'",
  ],
  [
    '10 the address gate always passes',
    'src/steps/restore/gates.ts',
    'addresses.every((a) => configuredAddresses().has(a))',
    'true',
  ],
];

const root = resolve('.');
const copy = mkdtempSync(join(tmpdir(), 'kl-mutants-'));
cpSync(root, copy, {
  recursive: true,
  filter: (src) => !/\/(node_modules|\.git|dist)(\/|$)/.test(src),
});
symlinkSync(join(root, 'node_modules'), join(copy, 'node_modules'));
let missed = 0;
for (const [name, file, from, to] of MUTANTS) {
  const path = join(copy, file);
  const original = readFileSync(path, 'utf8');
  if (!original.includes(from)) {
    console.log(`${name}: the code changed, update this mutant (${file})`);
    missed++;
    continue;
  }
  writeFileSync(path, original.replaceAll(from, to));
  const run = spawnSync('npx', ['vitest', 'run', '--project', 'unit'], {
    cwd: copy,
    encoding: 'utf8',
  });
  writeFileSync(path, original);

  const failed = [
    ...new Set(
      `${run.stdout}${run.stderr}`
        .replace(/\x1b\[[0-9;]*m/g, '')
        .split('\n')
        .filter((l) => l.includes(' FAIL ') && l.includes('>'))
        .map((l) =>
          l
            .split(' FAIL ')[1]
            ?.replace(/^\s*unit\s+/, '')
            .trim(),
        ),
    ),
  ];
  if (run.status === 0) missed++;
  console.log(`${name}: ${run.status === 0 ? 'MISSED' : `caught by ${failed.length}`}`);
  for (const test of failed) console.log(`    ${test}`);
}
rmSync(copy, { recursive: true, force: true });
process.exitCode = missed === 0 ? 0 : 1;
