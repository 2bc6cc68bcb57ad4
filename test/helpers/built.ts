/** The build (kernel-leap.mjs and its chunks/) copied alone into a fresh directory, as a host gets it. */
import { chmodSync, cpSync, existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { BUILD_MARK } from './fresh-build.js';

/** Returns the copy's entry, kernel-leap.mjs. */
export function copyOfBuild(prefix: string): string {
  const build = process.env[BUILD_MARK];
  if (!build || !existsSync(join(build, 'kernel-leap.mjs')))
    throw new Error(
      `no build in ${BUILD_MARK}: the integration project's globalSetup (test/helpers/fresh-build.ts) makes it`,
    );
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o755);
  cpSync(build, dir, { recursive: true });
  return join(dir, 'kernel-leap.mjs');
}
