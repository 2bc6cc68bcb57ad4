// `npm run mutants`: breaks, one at a time in a scratch copy of the tree, each
// behaviour the fast flow tests guard (issue "Shape"), runs the tests that guard
// it, and says which caught it. A mutant no test catches is a hole in the suite;
// the run exits 0 only when every mutant is caught.
//
// A mutant is [name, file, from, to, guards]: `from` is the code to break (runs
// of whitespace in it match any whitespace, so a reflow does not stale it), found
// exactly `count` times (default 1), each replaced by `to`. `guards` are the tests
// that must catch it, as [test file, a part of the test's name]; they run alone,
// so each mutant costs seconds, not the whole unit project.
//
// `npm run mutants -- --all` runs the whole unit project against each mutant
// instead, and prints every test that caught it: how to find the guards of a new
// or moved mutant. Numbers after it pick mutants: `npm run mutants -- --all 8`.
import { spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';

const FLOWS = 'test/unit/engine/flows.test.ts';
const WORKER = 'test/unit/engine/worker.test.ts';

const MUTANTS = [
  {
    name: '1 the pending mark is not cleared at boot',
    file: 'templates/take-pending.sh.hbs',
    from: 'rm -f "$PENDING" && sync "$STATE"',
    to: 'sync "$STATE"',
    guards: [
      [FLOWS, 'and still consumes the mark and cleans up (behaviours 10, 1, 2)'],
      [FLOWS, 'with a journal it cannot read, still consumes the mark'],
    ],
  },
  {
    name: '2 boot cleanup is skipped',
    file: 'src/engine/restore-run.ts',
    from: 'removeBootArtefacts(',
    to: '(async (_: unknown) => ({ removed: [], failed: [] }))(',
    count: 2,
    guards: [
      [FLOWS, 'restores with window scaling off, unlocks, then cleans up the boot'],
      [FLOWS, 'with a journal it cannot read, still consumes the mark and removes the boot units'],
      [FLOWS, 'the restore unit killed mid-cleanup'],
    ],
  },
  {
    name: '3 no SIGCONT after a failed dump',
    file: 'src/steps/checkpoint/dump.ts',
    from: "process.kill(pid, 'SIGCONT');",
    to: '',
    guards: [[FLOWS, 'after a failed dump, continues the tasks criu left stopped']],
  },
  {
    name: '4 the default kernel is the oldest',
    file: 'src/tools/kexec.ts',
    from: 'const newest = newer.at(-1);',
    to: 'const newest = newer.at(0);',
    guards: [
      [
        'test/unit/tools/kexec.test.ts',
        'is by default the newest installed one newer than the running one',
      ],
      [FLOWS, 'loads the newest installed kernel that is not running'],
    ],
  },
  {
    name: '5 --pid validation is off',
    file: 'src/cli/commands/session-options.ts',
    from: 'if (pid !== undefined && (!Number.isInteger(pid) || pid <= 0)) {',
    to: 'if (false) {',
    guards: [['test/unit/cli/session-options.test.ts', 'refuses a --pid that is not a process id']],
  },
  {
    name: '6 the units are never enabled',
    file: 'src/steps/checkpoint/prepare.ts',
    from: '  await enableUnits(input.runner, units);\n',
    to: '',
    guards: [
      [FLOWS, 'installs and enables both boot units before the freeze'],
      [FLOWS, 'disables the boot units even when prepare failed after enabling them'],
    ],
  },
  {
    name: '7 no sync before the kexec',
    file: 'src/engine/worker-run.ts',
    from: "  await ctx.runner.run({ file: 'sync', timeoutMs: 120_000 });\n",
    to: '',
    guards: [
      [FLOWS, 'syncs, and only then jumps'],
      [WORKER, 'killed after the dump completed'],
    ],
  },
  {
    name: '8 window scaling is not set during the restore',
    file: 'src/steps/restore/script.ts',
    from: 'return manifest.connections.length > 0 && !closeConnections;',
    to: 'return false;',
    guards: [[FLOWS, 'restores with window scaling off, unlocks, then cleans up the boot']],
  },
  {
    name: '9 the caller is not last (discover)',
    file: 'src/steps/plan/discover.ts',
    from: 'return [...roots.filter((r) => r.pid !== own), ...roots.filter((r) => r.pid === own)];',
    to: 'return [...roots.filter((r) => r.pid === own), ...roots.filter((r) => r.pid !== own)];',
    guards: [
      ['test/unit/steps/plan/discover.test.ts', "puts the caller's own session last"],
      ['test/unit/steps/plan/scope-trees.test.ts', 'puts the tmux tree last as the caller'],
    ],
  },
  {
    name: '9 the caller is not dumped last (worker)',
    file: 'src/engine/worker-run.ts',
    from: 'await sideBySide(runs.others, availableParallelism(), dumpInto); await dumpInto(runs.caller);',
    to: 'await dumpInto(runs.caller); await sideBySide(runs.others, availableParallelism(), dumpInto);',
    guards: [[FLOWS, "dumps the other sessions first and the caller's own last"]],
  },
  {
    name: '9 the other sessions are dumped one after another',
    file: 'src/engine/worker-run.ts',
    from: 'await sideBySide(runs.others, availableParallelism(), dumpInto);',
    to: 'await sideBySide(runs.others, 1, dumpInto);',
    guards: [[FLOWS, 'dumps the other sessions side by side, one a CPU']],
  },
  {
    name: '11 the held files the boot clears are not copied after the dump',
    file: 'src/engine/worker-run.ts',
    from: 'for (const { journal } of runs) carryHeldFiles(ctx.out, journal);',
    to: '',
    guards: [[FLOWS, 'is copied after the dump, put back by the action script']],
  },
  {
    name: '11 the copy follows a symlink at the held path',
    file: 'src/steps/checkpoint/copy-held.ts',
    from: 'constants.O_RDONLY | constants.O_NOFOLLOW |',
    to: 'constants.O_RDONLY |',
    guards: [['test/unit/steps/checkpoint/copy-held.test.ts', 'never follows a symlink']],
  },
  {
    name: "11 the action script lets criu open a symlink at a held file's path",
    file: 'templates/criu-action.sh.hbs',
    from: 'if [ -L "$path" ]; then',
    to: 'if false; then',
    guards: [[FLOWS, 'a symlink planted at its path aborts the restore']],
  },
  {
    name: '10 the address gate always passes',
    file: 'templates/restore-tree.sh.hbs',
    from: '[ $# != 0 ] || return 0',
    to: 'return 0',
    guards: [[FLOWS, 'fails at the address gate when a dumped local address never comes up']],
  },
  {
    name: '10 an address another interface holds is put back early all the same',
    file: 'templates/restore-tree.sh.hbs',
    from: '*) note "early.$1" taken; return ;;',
    to: '*) ;;',
    guards: [
      [
        'test/integration/restore-script.test.ts',
        'does not take an address another interface holds',
      ],
    ],
  },
];

const escapeRegExp = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** `from` as a pattern in which each run of whitespace matches any run of whitespace. */
const codePattern = (from) =>
  new RegExp(from.trim().split(/\s+/).map(escapeRegExp).join('\\s+'), 'g');

/** The mutated text, or why the mutant no longer applies (the code it breaks has changed). */
function mutate(original, mutant) {
  const pattern = codePattern(mutant.from);
  const found = original.match(pattern)?.length ?? 0;
  const expected = mutant.count ?? 1;
  if (found !== expected) {
    const where = found === 0 ? 'not found' : `found ${found} times, expected ${expected}`;
    return {
      stale: `${mutant.file}: the code it breaks is ${where}; update its "from" in scripts/flow-mutants.mjs. It looks for:\n${indent(mutant.from)}`,
    };
  }
  return { text: original.replace(pattern, () => mutant.to) };
}

const indent = (text) =>
  text
    .split('\n')
    .map((l) => `      ${l}`)
    .join('\n');

/**
 * Runs vitest in `dir` on these guards, each in its own project (test/unit or
 * test/integration: a script's mutant is caught by running the script), or every
 * unit test if none; returns each test's result.
 */
function runTests(dir, guards) {
  const report = join(dir, '.mutant-report.json');
  rmSync(report, { force: true });
  const files = [...new Set(guards.map(([file]) => file))];
  const names = guards.map(([, name]) => escapeRegExp(name)).join('|');
  const projects = files.length > 0 ? [...new Set(files.map((f) => f.split('/')[1]))] : ['unit'];
  const run = spawnSync(
    'npx',
    [
      'vitest',
      'run',
      ...projects.flatMap((project) => ['--project', project]),
      '--reporter=json',
      `--outputFile=${report}`,
      ...(guards.length > 0 ? [...files, '-t', names] : []),
    ],
    { cwd: dir, encoding: 'utf8' },
  );
  if (!existsSync(report))
    return { status: run.status, tests: [], output: `${run.stdout}${run.stderr}` };
  const json = JSON.parse(readFileSync(report, 'utf8'));
  const tests = json.testResults.flatMap((file) => [
    // A file that fails to load has no test results, only a message.
    ...(file.assertionResults.length === 0 && file.status === 'failed'
      ? [{ file: relative(dir, file.name), name: '(the file failed to load)', status: 'failed' }]
      : []),
    ...file.assertionResults.map((t) => ({
      file: relative(dir, file.name),
      name: t.fullName,
      status: t.status,
    })),
  ]);
  return { status: run.status, tests, output: `${run.stdout}${run.stderr}` };
}

const ran = (tests, [file, name]) =>
  tests.filter((t) => t.file === file && t.name.includes(name) && t.status !== 'skipped');

/** Every guard names a test that exists and passes on the unbroken code; else the guard is stale. */
function checkGuards(dir, mutants) {
  const guards = mutants.flatMap((m) => m.guards);
  const { tests, output } = runTests(dir, guards);
  const problems = [];
  for (const mutant of mutants) {
    if (mutant.guards.length === 0) problems.push(`${mutant.name}: no guards listed`);
    for (const guard of mutant.guards) {
      const found = ran(tests, guard);
      if (found.length === 0)
        problems.push(`${mutant.name}: no test in ${guard[0]} is named like "${guard[1]}"`);
      for (const t of found.filter((t) => t.status !== 'passed'))
        problems.push(
          `${mutant.name}: its guard fails on the unbroken code: ${t.file} > ${t.name}`,
        );
    }
  }
  if (tests.length === 0) problems.push(`the guards did not run:\n${output}`);
  if (problems.length > 0)
    problems.push(
      'update the guards in scripts/flow-mutants.mjs; `npm run mutants -- --all N` lists the tests that catch mutant N',
    );
  return problems;
}

function main() {
  const args = process.argv.slice(2);
  const all = args.includes('--all');
  const picked = args.filter((a) => !a.startsWith('--'));
  const mutants = picked.length
    ? MUTANTS.filter((m) => picked.some((p) => m.name.startsWith(`${p} `)))
    : MUTANTS;
  const root = resolve('.');
  const copy = mkdtempSync(join(tmpdir(), 'kl-mutants-'));
  cpSync(root, copy, {
    recursive: true,
    filter: (src) => !/\/(node_modules|\.git|dist)(\/|$)/.test(src),
  });
  symlinkSync(join(root, 'node_modules'), join(copy, 'node_modules'));
  let failed = 0;
  try {
    if (!all) {
      const problems = checkGuards(copy, mutants);
      for (const problem of problems) console.log(problem);
      if (problems.length > 0) return 1;
    }
    for (const mutant of mutants) if (!runMutant(copy, mutant, all)) failed++;
  } finally {
    rmSync(copy, { recursive: true, force: true });
  }
  console.log(
    failed === 0
      ? `all ${mutants.length} mutants caught`
      : `${failed} of ${mutants.length} mutants not caught, or stale`,
  );
  return failed === 0 ? 0 : 1;
}

/** True when the mutant applies and a test caught it. */
function runMutant(copy, mutant, all) {
  const path = join(copy, mutant.file);
  const original = readFileSync(path, 'utf8');
  const { text, stale } = mutate(original, mutant);
  if (stale) {
    console.log(`${mutant.name}: NO LONGER APPLIES\n    ${stale}`);
    return false;
  }
  writeFileSync(path, text);
  let result;
  try {
    result = runTests(copy, all ? [] : mutant.guards);
  } finally {
    writeFileSync(path, original);
  }
  const caught = result.tests.filter((t) => t.status === 'failed');
  const ok = caught.length > 0;
  console.log(`${mutant.name}: ${ok ? `caught by ${caught.length}` : 'MISSED'}`);
  for (const t of caught) console.log(`    ${t.file} > ${t.name}`);
  if (!ok && result.status !== 0) console.log(indent(result.output.slice(-2000)));
  return ok;
}

process.exitCode = main();
