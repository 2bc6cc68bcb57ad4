// Bundles the CLI into dist/: the entry dist/kernel-leap.mjs, and dist/chunks/
// for what only some commands import, dynamically: the S3 client and
// systeminformation (three quarters of the code). The restore at boot, whose
// Node start is on the session's downtime, so parses a quarter of it. dist/ runs
// with nothing but `node` (how the test guest gets it). The banner defines
// `require` because bundled CommonJS dependencies call it, and ESM has none.
// `node scripts/build.mjs DIR` builds into DIR instead: the integration tests
// build their own, so they never run a stale or missing dist/.
import { chmodSync, rmSync } from 'node:fs';
import { join } from 'node:path';

import { build } from 'esbuild';

// Chunk names carry a hash: an old build's chunks must not ship with this one.
const outdir = process.argv[2] ?? 'dist';
rmSync(outdir, { recursive: true, force: true });
await build({
  entryPoints: { 'kernel-leap': 'src/bin.ts' },
  outdir,
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  // Templates and helper programs (helpers/*.py) are imported as their text.
  loader: { '.hbs': 'text', '.py': 'text' },
  legalComments: 'none',
  logLevel: 'warning',
  banner: {
    js: "import { createRequire as __klCreateRequire } from 'node:module'; const require = __klCreateRequire(import.meta.url);",
  },
});
chmodSync(join(outdir, 'kernel-leap.mjs'), 0o755);
