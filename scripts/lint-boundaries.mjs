// The layers as a lint rule. src/ reads top-down:
//   cli -> engine -> steps -> state -> render -> tools -> config -> errors
// A module may import its own folder and any folder below it, never one above.
// And the process boundary: only src/tools/ may import execa, node:child_process
// or systeminformation (which spawns commands of its own).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const LAYERS = ['cli', 'engine', 'steps', 'state', 'render', 'tools', 'config', 'errors.ts'];
const TOP_LEVEL_FILES = { 'bin.ts': -1 };
const BANNED = ['execa', 'node:child_process', 'child_process', 'systeminformation'];
const SRC = resolve(process.argv[2] ?? 'src');

function* files(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* files(path);
    else if (path.endsWith('.ts')) yield path;
  }
}

/** The layer's rank (0 is the top), or undefined for a path outside src/. */
function rank(path) {
  const first = relative(SRC, path).split('/')[0];
  if (first in TOP_LEVEL_FILES) return TOP_LEVEL_FILES[first];
  const i = LAYERS.indexOf(first);
  return i === -1 ? undefined : i;
}

const IMPORT = /(?:from\s+|import\s*\(\s*|require\s*\(\s*|^import\s+)['"]([^'"]+)['"]/g;
const problems = [];
for (const file of files(SRC)) {
  const own = rank(file);
  if (own === undefined)
    problems.push(
      `${relative('.', file)}: not in a layer; put it under one of ${LAYERS.join(', ')}`,
    );
  readFileSync(file, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      for (const [, spec] of line.matchAll(IMPORT)) {
        const where = `${relative('.', file)}:${i + 1}`;
        if (BANNED.includes(spec) && !relative(SRC, file).startsWith('tools/'))
          problems.push(`${where}: imports ${spec}; only src/tools/ may (use the Runner)`);
        if (!spec.startsWith('.')) continue;
        const target = resolve(dirname(file), spec);
        const theirs = rank(target);
        if (theirs !== undefined && own !== undefined && theirs < own) {
          problems.push(
            `${where}: ${LAYERS[own] ?? 'src'} imports ${relative(SRC, target)}, a layer above it (${LAYERS.join(' -> ')})`,
          );
        }
      }
    });
}
if (problems.length) {
  console.error(problems.join('\n'));
  process.exit(1);
}
console.log('boundaries: ok');
