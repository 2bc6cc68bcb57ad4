import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

import { execa } from 'execa';
import { describe, expect, it } from 'vitest';

import { initrdProblem } from '../../src/tools/boot-image.js';
import { ExecaRunner } from '../../src/tools/runner.js';
import { cpioArchive } from '../helpers/initrd-fixture.js';

/** Real gzip and zstd test the compressed part, read from its offset in the file. */
describe('an initrd that would not unpack is found before anything freezes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kl-initrd-'));
  const early = cpioArchive({ 'kernel/x86/microcode/AuthenticAMD.bin': 'ucode' });
  const body = cpioArchive({ init: '#!/bin/sh\n'.repeat(20_000) });
  const runner = new ExecaRunner();

  async function zstd(data: Buffer): Promise<Buffer> {
    const result = await execa('zstd', ['-q', '-c'], { input: data, encoding: 'buffer' });
    return Buffer.from(result.stdout);
  }

  it.each([
    ['gzip', async () => gzipSync(body)],
    ['zstd', async () => zstd(body)],
  ])(
    'a whole %s initrd after an early cpio passes; cut in half, it is named damaged',
    async (kind, compress) => {
      const main = await compress();
      const whole = join(dir, `${kind}.img`);
      writeFileSync(whole, Buffer.concat([early, main]));
      expect(await initrdProblem(runner, whole)).toBeUndefined();
      const cut = join(dir, `${kind}-cut.img`);
      writeFileSync(cut, Buffer.concat([early, main.subarray(0, main.length >> 1)]));
      expect(await initrdProblem(runner, cut)).toMatch(
        new RegExp(`^${kind} -t.* finds its compressed part damaged`),
      );
    },
  );

  it('names data that is neither cpio nor a known compression', async () => {
    const junk = join(dir, 'junk.img');
    writeFileSync(junk, Buffer.concat([early, Buffer.from('this is not an archive')]));
    expect(await initrdProblem(runner, junk)).toContain('neither cpio nor a compression');
  });
});
