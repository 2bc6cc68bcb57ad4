// `node --import ./scripts/text-imports.mjs`: templates/*.hbs and helpers/*.py import
// as their text, as esbuild bundles them (loader 'text') and vitest reads them
// (vitest.config.ts), for the scripts that run src/ with tsx (the packaging).
import { register } from 'node:module';

const hooks = `
import { readFile } from 'node:fs/promises';
export async function load(url, context, next) {
  if (!/\\.(hbs|py)$/.test(url)) return next(url, context);
  const text = await readFile(new URL(url), 'utf8');
  return { format: 'module', source: 'export default ' + JSON.stringify(text) + ';', shortCircuit: true };
}`;
register(`data:text/javascript,${encodeURIComponent(hooks)}`);
