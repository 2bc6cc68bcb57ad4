/**
 * What a kexec target must be before anything freezes: a kernel image this machine
 * can boot, and an initrd that unpacks to its end. A truncated initrd loads
 * without complaint and fails only in the new kernel ("Initramfs unpacking
 * failed"), with the session already gone.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

import type { Runner } from './runner.js';

/** x86 boot protocol (Documentation/arch/x86/boot.rst): the setup header's fixed offsets. */
const BOOT_FLAG_OFFSET = 0x1fe;
const HEADER_MAGIC_OFFSET = 0x202;
const PROTOCOL_OFFSET = 0x206;
const XLOADFLAGS_OFFSET = 0x236;
const XLF_KERNEL_64 = 1;
/** xloadflags exist from protocol 2.12 on. */
const PROTOCOL_WITH_XLOADFLAGS = 0x020c;

/** Why `head` (the image's first KiB) is not an x86-64 kernel this machine can kexec, or undefined. */
export function x86KernelProblem(head: Buffer): string | undefined {
  if (head.length < XLOADFLAGS_OFFSET + 2) return 'it is too short to be a kernel image';
  if (head.readUInt16LE(BOOT_FLAG_OFFSET) !== 0xaa55)
    return 'it has no x86 boot sector signature (0x55AA at 0x1fe)';
  if (head.toString('latin1', HEADER_MAGIC_OFFSET, HEADER_MAGIC_OFFSET + 4) !== 'HdrS')
    return 'it has no x86 setup header ("HdrS" at 0x202)';
  const protocol = head.readUInt16LE(PROTOCOL_OFFSET);
  if (protocol >= PROTOCOL_WITH_XLOADFLAGS && (head[XLOADFLAGS_OFFSET]! & XLF_KERNEL_64) === 0)
    return 'it is a 32-bit kernel';
  return undefined;
}

/** Why the kernel image at `path` cannot be this machine's next kernel, or undefined. */
export function kernelImageProblem(path: string, arch = process.arch): string | undefined {
  // Only x86-64 has a header we check; elsewhere kexec -l is the judge.
  if (arch !== 'x64') return undefined;
  const head = Buffer.alloc(1024);
  const fd = openSync(path, 'r');
  try {
    return x86KernelProblem(head.subarray(0, readSync(fd, head, 0, head.length, 0)));
  } finally {
    closeSync(fd);
  }
}

const NEWC_MAGIC = '070701';
const NEWC_HEADER = 110;
const TRAILER = 'TRAILER!!!';
const align4 = (n: number) => (n + 3) & ~3;

export type InitrdLayout =
  | { kind: 'cpio-only' }
  | { kind: 'compressed'; offset: number }
  | { kind: 'damaged'; problem: string };

/**
 * Walks the uncompressed newc archives at the start (early microcode) to where the
 * compressed main archive begins, as the kernel's unpacker does: an archive ends
 * at its TRAILER!!! entry, and zero padding may follow it.
 */
export function initrdLayout(data: Buffer): InitrdLayout {
  let offset = 0;
  while (offset < data.length) {
    if (data[offset] === 0) {
      offset++;
      continue;
    }
    if (data.toString('latin1', offset, offset + 6) !== NEWC_MAGIC)
      return { kind: 'compressed', offset };
    if (offset + NEWC_HEADER > data.length)
      return { kind: 'damaged', problem: `a cpio header is cut short at byte ${offset}` };
    const field = (at: number) =>
      parseInt(data.toString('latin1', offset + at, offset + at + 8), 16);
    const fileSize = field(54);
    const nameSize = field(94);
    const name = data.toString('latin1', offset + NEWC_HEADER, offset + NEWC_HEADER + nameSize - 1);
    offset = align4(align4(offset + NEWC_HEADER + nameSize) + fileSize);
    if (offset > data.length)
      return { kind: 'damaged', problem: `the cpio entry ${JSON.stringify(name)} is cut short` };
    if (name === TRAILER && offset >= data.length) return { kind: 'cpio-only' };
  }
  return { kind: 'damaged', problem: 'the cpio archive has no end (no TRAILER!!! entry)' };
}

/** The decompressors the kernel accepts for an initramfs, by magic, each with its test flag. */
const DECOMPRESSORS: ReadonlyArray<{ magic: Buffer; file: string; args: string[] }> = [
  { magic: Buffer.from([0x1f, 0x8b]), file: 'gzip', args: ['-t'] },
  { magic: Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), file: 'zstd', args: ['-t', '-q'] },
  { magic: Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]), file: 'xz', args: ['-t'] },
  { magic: Buffer.from([0x5d, 0x00, 0x00]), file: 'xz', args: ['--format=lzma', '-t'] },
  { magic: Buffer.from([0x02, 0x21, 0x4c, 0x18]), file: 'lz4', args: ['-t'] },
  { magic: Buffer.from([0x42, 0x5a, 0x68]), file: 'bzip2', args: ['-t'] },
  { magic: Buffer.from([0x89, 0x4c, 0x5a, 0x4f]), file: 'lzop', args: ['-t'] },
];

/** Why the initrd at `path` would not unpack, or undefined: its compressed part is tested to its end. */
export async function initrdProblem(runner: Runner, path: string): Promise<string | undefined> {
  const data = await readFile(path);
  const layout = initrdLayout(data);
  if (layout.kind === 'damaged') return layout.problem;
  if (layout.kind === 'cpio-only') return undefined;
  const rest = data.subarray(layout.offset);
  const tool = DECOMPRESSORS.find((d) => rest.subarray(0, d.magic.length).equals(d.magic));
  if (!tool)
    return `its data at byte ${layout.offset} is neither cpio nor a compression the kernel knows`;
  const result = await runner.run({
    file: tool.file,
    args: tool.args,
    inputFrom: { path, offset: layout.offset },
    okCodes: [0, 1, 2],
    timeoutMs: 120_000,
  });
  if (result.exitCode === 0) return undefined;
  const said = result.stderr.trim().split('\n').at(-1) ?? '';
  return `${tool.file} ${tool.args.join(' ')} finds its compressed part damaged${said ? `: ${said}` : ''}`;
}
