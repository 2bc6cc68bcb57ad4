/** Initrds made here: newc cpio archives (as the kernel's unpacker reads them), optionally compressed after an early one. */

function newcEntry(name: string, data: Buffer): Buffer {
  const hex = (n: number) => n.toString(16).padStart(8, '0');
  const fields = [1, 0o100644, 0, 0, 1, 0, data.length, 0, 0, 0, 0, name.length + 1, 0];
  const header = Buffer.from(`070701${fields.map(hex).join('')}`, 'latin1');
  const pad = (b: Buffer) => Buffer.concat([b, Buffer.alloc((4 - (b.length % 4)) % 4)]);
  return Buffer.concat([
    pad(Buffer.concat([header, Buffer.from(`${name}\0`, 'latin1')])),
    pad(data),
  ]);
}

/** One newc archive of `files`, ended by its TRAILER!!! entry. */
export function cpioArchive(files: Record<string, string>): Buffer {
  return Buffer.concat([
    ...Object.entries(files).map(([name, text]) => newcEntry(name, Buffer.from(text))),
    newcEntry('TRAILER!!!', Buffer.alloc(0)),
  ]);
}

/** A first-sector x86-64 bzImage header: the boot flag, "HdrS", protocol 2.15, XLF_KERNEL_64. */
export function x86KernelHead(options: { kernel64?: boolean } = {}): Buffer {
  const head = Buffer.alloc(1024);
  head.writeUInt16LE(0xaa55, 0x1fe);
  head.write('HdrS', 0x202, 'latin1');
  head.writeUInt16LE(0x020f, 0x206);
  head[0x236] = options.kernel64 === false ? 0 : 1;
  return head;
}
