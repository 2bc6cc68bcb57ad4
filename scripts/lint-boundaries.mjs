// The process boundary as a lint rule: only src/tools/ may import execa,
// node:child_process or systeminformation (which spawns commands of its own).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const BANNED = ['execa', 'node:child_process', 'child_process', 'systeminformation'];
const ALLOWED_DIR = 'src/tools/';

function* files(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* files(path);
    else if (path.endsWith('.ts')) yield path;
  }
}

const problems = [];
for (const file of files('src')) {
  if (relative('.', file).startsWith(ALLOWED_DIR)) continue;
  readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
    const match = /(?:from\s+|import\s*\(\s*|require\s*\(\s*)['"]([^'"]+)['"]/.exec(line);
    if (match && BANNED.includes(match[1])) problems.push(`${file}:${i + 1}: imports ${match[1]}; only ${ALLOWED_DIR} may (use the Runner)`);
  });
}
if (problems.length) {
  console.error(problems.join('\n'));
  process.exit(1);
}
console.log('boundaries: ok');
