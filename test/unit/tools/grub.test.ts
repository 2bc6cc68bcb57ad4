import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { kernelEntry, menuEntries } from '../../../src/tools/grub.js';

const FIXTURES = join(import.meta.dirname, '../../fixtures/grub');
const BOOKWORM = join(FIXTURES, 'bookworm.grub.cfg');
const TRIXIE = join(FIXTURES, 'trixie.grub.cfg');
const BOOKWORM_DEVICE = '8d1f6b2e-4c39-4c1a-9f0e-3b7e5a2d9c41';
const TRIXIE_DEVICE = '4f0b7c1e-9a52-4d8e-b6a3-71c2e05d8f19';
/** Written by update-grub in the bookworm test bed (docs/testing.md "Booting through GRUB"). */
const BED = join(FIXTURES, 'bookworm-bed.grub.cfg');
const BED_DEVICE = '4d1db5a7-b25b-416b-ad7a-f155f8b5f7c4';

/** A grub.cfg made from `text`, in a directory of its own. */
function cfgOf(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'kl-grub-')), 'grub.cfg');
  writeFileSync(file, text);
  return file;
}

/** The bookworm sample changed by `edit`. */
function bookwormWith(edit: (text: string) => string): string {
  return cfgOf(edit(readFileSync(BOOKWORM, 'utf8')));
}

describe("the running kernel's entry in a Debian 12 grub.cfg", () => {
  it('is its advanced entry, in the submenu, as next_entry names it (SUBMENU>ENTRY)', () => {
    expect(kernelEntry(BOOKWORM, '6.1.0-40-amd64')).toEqual({
      entry: `gnulinux-advanced-${BOOKWORM_DEVICE}>gnulinux-6.1.0-40-amd64-advanced-${BOOKWORM_DEVICE}`,
    });
  });

  it('for the newest kernel too: never the top-level simple entry nor the recovery one', () => {
    expect(kernelEntry(BOOKWORM, '6.1.0-41-amd64')).toEqual({
      entry: `gnulinux-advanced-${BOOKWORM_DEVICE}>gnulinux-6.1.0-41-amd64-advanced-${BOOKWORM_DEVICE}`,
    });
  });

  it('reads every entry with its submenu and its linux image', () => {
    const read = menuEntries(readFileSync(BOOKWORM, 'utf8'));
    expect('list' in read && read.list.map((e) => [e.path.join('>'), e.linux])).toEqual([
      [`gnulinux-simple-${BOOKWORM_DEVICE}`, '/boot/vmlinuz-6.1.0-41-amd64'],
      ...['6.1.0-41-amd64', '6.1.0-40-amd64'].flatMap((v) =>
        ['advanced', 'recovery'].map((type) => [
          `gnulinux-advanced-${BOOKWORM_DEVICE}>gnulinux-${v}-${type}-${BOOKWORM_DEVICE}`,
          `/boot/vmlinuz-${v}`,
        ]),
      ),
    ]);
  });

  it('is none, naming the kernel, when no entry boots it (removed from /boot, update-grub ran)', () => {
    expect(kernelEntry(BOOKWORM, '6.1.0-39-amd64')).toEqual({
      none: `no menu entry of ${BOOKWORM} boots the running kernel 6.1.0-39-amd64`,
    });
  });

  it('is a top-level id with GRUB_DISABLE_SUBMENU=y, and found with a separate /boot (linux /vmlinuz-…)', () => {
    const flat = bookwormWith((t) =>
      t
        .replace(/^submenu .*\{\n/m, '')
        .replace(/^\}\n\n### END \/etc\/grub.d\/10_linux/m, '\n### END /etc/grub.d/10_linux')
        .replaceAll('/boot/vmlinuz-', '/vmlinuz-'),
    );
    expect(kernelEntry(flat, '6.1.0-40-amd64')).toEqual({
      entry: `gnulinux-6.1.0-40-amd64-advanced-${BOOKWORM_DEVICE}`,
    });
  });
});

describe("the running kernel's entry in a Debian 13 grub.cfg", () => {
  it('is found for a trixie release (6.12.43+deb13-cloud-amd64)', () => {
    expect(kernelEntry(TRIXIE, '6.12.43+deb13-cloud-amd64')).toEqual({
      entry: `gnulinux-advanced-${TRIXIE_DEVICE}>gnulinux-6.12.43+deb13-cloud-amd64-advanced-${TRIXIE_DEVICE}`,
    });
  });

  it("reads past an entry inside an if, and a custom entry whose title holds quotes, braces and a ';'", () => {
    const read = menuEntries(readFileSync(TRIXIE, 'utf8'));
    expect('list' in read && read.list.map((e) => e.path.join('>'))).toEqual([
      `gnulinux-simple-${TRIXIE_DEVICE}`,
      `gnulinux-advanced-${TRIXIE_DEVICE}>gnulinux-6.12.48+deb13-cloud-amd64-advanced-${TRIXIE_DEVICE}`,
      `gnulinux-advanced-${TRIXIE_DEVICE}>gnulinux-6.12.43+deb13-cloud-amd64-advanced-${TRIXIE_DEVICE}`,
      'uefi-firmware',
      'custom-serial-debug',
    ]);
  });
});

describe('the grub.cfg update-grub wrote in the bookworm test bed (a disk with no partition table)', () => {
  it.each(['6.1.0-55-cloud-amd64', '6.1.0-56-cloud-amd64'])(
    'names the advanced entry of %s, as the GRUB guest boots it',
    (version) => {
      expect(kernelEntry(BED, version)).toEqual({
        entry: `gnulinux-advanced-${BED_DEVICE}>gnulinux-${version}-advanced-${BED_DEVICE}`,
      });
    },
  );
});

describe('a grub.cfg the fallback does not trust gives none, and says why', () => {
  it('one without 00_header, which would never boot next_entry', () => {
    const file = bookwormWith((t) =>
      t.replace(/### BEGIN \/etc\/grub.d\/00_header[^]*?### END[^\n]*\n/, ''),
    );
    expect(kernelEntry(file, '6.1.0-40-amd64')).toEqual({
      none: `${file} does not boot next_entry once (it was not written by grub-mkconfig)`,
    });
  });

  it.each([
    ['a quote left open', (t: string) => `${t}menuentry 'broken {\n`, 'a quote is left open'],
    ['a block left open', (t: string) => `${t}menuentry 'x' --id x {\n`, 'a block is left open'],
    ['a brace that closes nothing', (t: string) => `${t}}\n`, 'a brace closes no block'],
  ])('%s', (_, edit, why) => {
    const file = bookwormWith(edit);
    expect(kernelEntry(file, '6.1.0-40-amd64')).toEqual({ none: `${file}: ${why}` });
  });

  it('an entry whose id names the kernel but whose linux line loads another', () => {
    const file = bookwormWith((t) =>
      t.replace(
        /(gnulinux-6\.1\.0-40-amd64-advanced-[^]*?linux\t\/boot\/vmlinuz-)6\.1\.0-40-amd64/,
        '$16.1.0-41-amd64',
      ),
    );
    expect(kernelEntry(file, '6.1.0-40-amd64')).toEqual({
      none: `no menu entry of ${file} boots the running kernel 6.1.0-40-amd64`,
    });
  });

  it("a submenu id next_entry cannot name (GRUB reads '>' as a separator)", () => {
    const file = bookwormWith((t) =>
      t.replace(`'gnulinux-advanced-${BOOKWORM_DEVICE}'`, "'Advanced>options'"),
    );
    expect(kernelEntry(file, '6.1.0-40-amd64')).toEqual({
      none: `the entry of 6.1.0-40-amd64 in ${file} has an id next_entry cannot name`,
    });
  });

  it('a grub.cfg that cannot be read', () => {
    const missing = join(tmpdir(), 'kl-no-such-dir', 'grub.cfg');
    expect(kernelEntry(missing, '6.1.0-40-amd64')).toMatchObject({
      none: expect.stringContaining(`${missing} cannot be read: ENOENT`),
    });
  });
});
