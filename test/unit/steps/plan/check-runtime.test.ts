import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { bundleFinding, nodeFinding } from '../../../../src/steps/plan/check.js';

describe('check: the runtime the boot units will run', () => {
  const node = '/usr/lib/kernel-leap/node';

  it('a node of 22 or newer is ok, and says where it is', () => {
    expect(nodeFinding({ tool: node, installed: true, version: '22.23.3' })).toEqual({
      level: 'ok',
      item: 'node',
      detail: `22.23.3 at ${node}`,
    });
  });

  it("an older node, Debian 12's own 18 say, fails and says to reinstall the package", () => {
    expect(nodeFinding({ tool: '/usr/bin/node', installed: true, version: '18.20.4' })).toEqual({
      level: 'fail',
      item: 'node',
      detail: "the boot units' node /usr/bin/node is 18.20.4, need >= 22",
      hint: expect.stringMatching(/reinstall the kernel-leap package .*\[paths\] node/),
    });
  });

  it('a node that is missing or does not run fails, naming the path', () => {
    expect(nodeFinding({ tool: node, installed: false })).toMatchObject({
      level: 'fail',
      detail: `the boot units' node ${node} is missing`,
    });
    expect(nodeFinding({ tool: node, installed: true, error: 'exited with 126' }).detail).toContain(
      'fails: exited with 126',
    );
  });

  it('the bundle needs its chunks beside it: the S3 client is loaded from there', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kl-bundle-'));
    const bundle = join(dir, 'kernel-leap.mjs');
    expect(bundleFinding(bundle)).toMatchObject({
      level: 'fail',
      detail: `the boot units' bundle is incomplete: ${bundle}, ${join(dir, 'chunks')} missing`,
    });
    writeFileSync(bundle, '');
    mkdirSync(join(dir, 'chunks'));
    expect(bundleFinding(bundle)).toEqual({ level: 'ok', item: 'bundle', detail: bundle });
  });
});
