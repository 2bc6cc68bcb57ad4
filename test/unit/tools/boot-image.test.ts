import { gzipSync } from 'node:zlib';

import { describe, expect, it } from 'vitest';

import { initrdLayout, x86KernelProblem } from '../../../src/tools/boot-image.js';
import { cpioArchive, x86KernelHead } from '../../helpers/initrd-fixture.js';

describe('a kernel image for this machine', () => {
  it('is an x86-64 bzImage: boot flag, setup header, 64-bit load flag', () => {
    expect(x86KernelProblem(x86KernelHead())).toBeUndefined();
    expect(x86KernelProblem(x86KernelHead({ kernel64: false }))).toBe('it is a 32-bit kernel');
    expect(x86KernelProblem(Buffer.from('#!/bin/sh\necho not a kernel\n'))).toBe(
      'it is too short to be a kernel image',
    );
    expect(x86KernelProblem(Buffer.alloc(1024))).toContain('no x86 boot sector signature');
    const noHeader = x86KernelHead();
    noHeader.write('ELF!', 0x202, 'latin1');
    expect(x86KernelProblem(noHeader)).toContain('no x86 setup header');
  });
});

describe("an initrd's layout", () => {
  const early = cpioArchive({ 'kernel/x86/microcode/GenuineIntel.bin': 'ucode' });
  const main = gzipSync(cpioArchive({ init: '#!/bin/sh\n' }));

  it('finds the compressed archive after an early uncompressed one and its zero padding', () => {
    const data = Buffer.concat([early, Buffer.alloc(512), main]);
    expect(initrdLayout(data)).toEqual({ kind: 'compressed', offset: early.length + 512 });
    expect(initrdLayout(main)).toEqual({ kind: 'compressed', offset: 0 });
  });

  it('takes an archive that is all cpio, and calls one cut short damaged', () => {
    expect(initrdLayout(early)).toEqual({ kind: 'cpio-only' });
    expect(initrdLayout(early.subarray(0, 60))).toMatchObject({ kind: 'damaged' });
    expect(initrdLayout(early.subarray(0, early.length - 200))).toMatchObject({ kind: 'damaged' });
  });
});
