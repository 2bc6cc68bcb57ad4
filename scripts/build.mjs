// Bundles the CLI into one self-contained ESM file, dist/kernel-leap.mjs, that runs
// with nothing but `node` (how the test guest gets it). The banner defines `require`
// because bundled CommonJS dependencies call it, and ESM has none.
import { chmodSync } from 'node:fs';
import { build } from 'esbuild';

await build({
  entryPoints: ['src/bin.ts'],
  outfile: 'dist/kernel-leap.mjs',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  loader: { '.hbs': 'text' },
  legalComments: 'none',
  logLevel: 'warning',
  banner: { js: "import { createRequire as __klCreateRequire } from 'node:module'; const require = __klCreateRequire(import.meta.url);" },
});
chmodSync('dist/kernel-leap.mjs', 0o755);
