import { existsSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { assertMachineFree, leapLockPath } from '../../../src/state/leap-lock.js';

describe('the leap lock', () => {
  it('is free on a machine where no leap made the state dir yet, and makes it owner-only', () => {
    const stateDir = join(mkdtempSync(join(tmpdir(), 'kl-fresh-')), 'kernel-leap');
    expect(() => assertMachineFree(stateDir, 'upgrade')).not.toThrow();
    expect(statSync(stateDir).mode & 0o777).toBe(0o700);
    expect(existsSync(leapLockPath(stateDir))).toBe(false);
  });
});
