/**
 * vitest's globalSetup: every test's temp dirs go under one root made for the
 * run, removed when it ends, so repeated runs do not fill /tmp. Workers and the
 * processes they start inherit TMPDIR, which os.tmpdir() reads. Projects that
 * extend the root config run this again: the first call's root serves them all.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const MARK = 'KL_TEST_TEMP_ROOT';

export default function setup(): () => void {
  if (process.env[MARK]) return () => undefined;
  const root = mkdtempSync(join(tmpdir(), 'kl-test-'));
  // Searchable as /tmp is: a test runs the build as another user from a dir in here.
  chmodSync(root, 0o755);
  process.env.TMPDIR = root;
  process.env[MARK] = root;
  return () => {
    rmSync(root, { recursive: true, force: true });
    delete process.env[MARK];
  };
}
