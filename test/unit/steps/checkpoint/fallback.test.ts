import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { renderFallback } from '../../../../src/cli/commands/plan.js';
import { LeapError } from '../../../../src/errors.js';
import { bootFallback } from '../../../../src/steps/checkpoint/fallback.js';
import { grubFiles } from '../../../../src/tools/grub.js';
import { scratchHost, ScriptedRunner } from '../../../helpers/flow.js';

/** The scratch host runs 6.1.0-55-cloud-amd64; Debian 13's sample has no entry for it. */
function withGrubCfg(sample: 'bookworm' | 'trixie') {
  const host = scratchHost();
  const { cfg } = grubFiles(host.boot);
  mkdirSync(join(host.boot, 'grub'));
  copyFileSync(join(import.meta.dirname, `../../../fixtures/grub/${sample}.grub.cfg`), cfg);
  return { host, cfg };
}

const editenv = () =>
  new ScriptedRunner().on(['grub-editenv', '--version'], () => ({
    stdout: 'grub-editenv (GRUB) 2.12-9\n',
  }));

describe('the fallback the plan names', () => {
  it('is none on a machine without grub.cfg, and grub-editenv is not even asked', async () => {
    const host = scratchHost();
    const runner = new ScriptedRunner();
    const fallback = await bootFallback(runner, host);
    expect(fallback).toEqual({
      kind: 'none',
      why: `the machine does not boot through GRUB (no ${grubFiles(host.boot).cfg})`,
    });
    expect(runner.calls).toEqual([]);
    expect(renderFallback(fallback)).toBe(
      `fallback if the new kernel fails to boot: none: the machine does not boot through GRUB (no ${grubFiles(host.boot).cfg}); a target that fails to boot relies on panic= and the firmware's default boot`,
    );
  });

  it('is none when grub-editenv is not installed, and says which package has it', async () => {
    const { host } = withGrubCfg('bookworm');
    const runner = new ScriptedRunner().on(['grub-editenv'], () => {
      throw new LeapError('TOOL_MISSING', 'grub-editenv is not installed');
    });
    expect(await bootFallback(runner, host)).toEqual({
      kind: 'none',
      why: 'grub-editenv is not installed (apt-get install grub-common)',
    });
  });

  it('is none when no entry boots the running kernel', async () => {
    const { host, cfg } = withGrubCfg('trixie');
    expect(await bootFallback(editenv(), host)).toEqual({
      kind: 'none',
      why: `no menu entry of ${cfg} boots the running kernel 6.1.0-55-cloud-amd64`,
    });
  });

  it('is the GRUB one-shot to the running kernel, named in one line', async () => {
    const { host, cfg } = withGrubCfg('bookworm');
    writeFileSync(
      cfg,
      readFileSync(cfg, 'utf8').replaceAll('6.1.0-40-amd64', '6.1.0-55-cloud-amd64'),
    );
    const fallback = await bootFallback(editenv(), host);
    expect(fallback).toMatchObject({ kind: 'grub-once', version: '6.1.0-55-cloud-amd64' });
    expect(renderFallback(fallback)).toMatch(
      /^fallback if the new kernel fails to boot: GRUB one-shot to 6\.1\.0-55-cloud-amd64 \(next_entry=gnulinux-advanced-\S+>gnulinux-6\.1\.0-55-cloud-amd64-advanced-\S+, until the new kernel has booted and restored\)$/,
    );
  });
});
