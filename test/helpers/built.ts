/** The build (dist/: kernel-leap.mjs and its chunks/) copied alone into a fresh directory, as a host gets it. */
import { chmodSync, cpSync, existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** Returns the copy's entry, kernel-leap.mjs. */
export function copyOfBuild(prefix: string): string {
  const dist = resolve('dist');
  if (!existsSync(join(dist, 'kernel-leap.mjs')))
    throw new Error('dist/kernel-leap.mjs is missing: npm test builds it first (npm run build)');
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o755);
  cpSync(dist, dir, { recursive: true });
  return join(dir, 'kernel-leap.mjs');
}
