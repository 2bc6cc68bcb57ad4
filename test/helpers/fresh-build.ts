/**
 * globalSetup of the integration project: builds the CLI from the current
 * sources into the run's temp root, once, so that the tests that run the bundle
 * stand on their own (no `npm run build` first, no stale dist/ left from an
 * older tree). copyOfBuild copies from here.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const BUILD_MARK = 'KL_TEST_BUILD';

export default function setup(): void {
  if (process.env[BUILD_MARK]) return;
  const out = join(mkdtempSync(join(tmpdir(), 'kl-build-')), 'dist');
  execFileSync(process.execPath, ['scripts/build.mjs', out], { stdio: 'inherit' });
  process.env[BUILD_MARK] = out;
}
