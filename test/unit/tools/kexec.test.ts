import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { installedKernels } from '../../../src/tools/facts.js';
import { leapCommandLine, leapOfBoot, resolveKernel } from '../../../src/tools/kexec.js';

function boot(versions: readonly string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'kl-boot-'));
  for (const v of versions) {
    writeFileSync(join(dir, `vmlinuz-${v}`), '');
    writeFileSync(join(dir, `initrd.img-${v}`), '');
  }
  return dir;
}

describe('the target kernel', () => {
  it('is by default the newest installed one newer than the running one, by version order (behaviour 4)', () => {
    const kernels = installedKernels(
      boot([
        '6.1.0-9-cloud-amd64',
        '6.1.0-56-cloud-amd64',
        '6.1.0-55-cloud-amd64',
        '6.1.0-10-cloud-amd64',
      ]),
    );
    expect(resolveKernel(undefined, '6.1.0-55-cloud-amd64', kernels).version).toBe(
      '6.1.0-56-cloud-amd64',
    );
    expect(resolveKernel(undefined, '6.1.0-10-cloud-amd64', kernels).version).toBe(
      '6.1.0-56-cloud-amd64',
    );
  });

  it('is never older than the running one: with nothing newer it says so, and names the older ones', () => {
    const kernels = installedKernels(boot(['6.1.0-55-cloud-amd64', '6.1.0-56-cloud-amd64']));
    expect(() => resolveKernel(undefined, '6.1.0-56-cloud-amd64', kernels)).toThrowError(
      expect.objectContaining({
        code: 'KERNEL_NONE_NEWER',
        exit: 3,
        hint: expect.stringContaining('--kernel 6.1.0-55-cloud-amd64') as unknown,
      }),
    );
    expect(resolveKernel('6.1.0-55-cloud-amd64', '6.1.0-56-cloud-amd64', kernels).version).toBe(
      '6.1.0-55-cloud-amd64',
    );
  });

  it('names what is installed when the asked version is not', () => {
    const kernels = installedKernels(boot(['6.1.0-55-cloud-amd64']));
    expect(() =>
      resolveKernel('6.1.0-99-cloud-amd64', '6.1.0-55-cloud-amd64', kernels),
    ).toThrowError(
      expect.objectContaining({
        code: 'KERNEL_NOT_FOUND',
        hint: 'installed: 6.1.0-55-cloud-amd64',
      }),
    );
  });
  it('is a no-go without an initrd, naming the kernel and how to make one', () => {
    const dir = boot([]);
    writeFileSync(join(dir, 'vmlinuz-6.1.0-56-cloud-amd64'), '');
    expect(() =>
      resolveKernel('6.1.0-56-cloud-amd64', '6.1.0-55-cloud-amd64', installedKernels(dir)),
    ).toThrowError(
      expect.objectContaining({
        code: 'KERNEL_NO_INITRD',
        exit: 3,
        hint: expect.stringContaining('update-initramfs -c -k 6.1.0-56-cloud-amd64') as unknown,
      }),
    );
  });
});

describe("the command line of the leap's boot", () => {
  it("is the given one without BOOT_IMAGE or an earlier leap's run, plus this run", () => {
    expect(
      leapCommandLine(
        'BOOT_IMAGE=/boot/vmlinuz-6.1.0-55-cloud-amd64 root=UUID=ab ro quiet kernel_leap.run=old-1\n',
        'new-2',
      ),
    ).toBe('root=UUID=ab ro quiet panic=10 kernel_leap.run=new-2');
    expect(leapCommandLine('', 'r')).toBe('panic=10 kernel_leap.run=r');
  });

  it('reboots a target that panics, unless the line already says what a panic does', () => {
    expect(leapCommandLine('root=/dev/vda1 panic=0', 'r')).toBe(
      'root=/dev/vda1 panic=0 kernel_leap.run=r',
    );
    expect(leapCommandLine('root=/dev/vda1 oops=panic panic=30', 'r')).toBe(
      'root=/dev/vda1 oops=panic panic=30 kernel_leap.run=r',
    );
    expect(leapCommandLine('root=/dev/vda1 oops=panic', 'r')).toBe(
      'root=/dev/vda1 oops=panic panic=10 kernel_leap.run=r',
    );
  });

  it('names the run only on the boot it started', () => {
    expect(leapOfBoot('root=/dev/vda1 ro kernel_leap.run=20261130-ab12\n')).toBe('20261130-ab12');
    expect(leapOfBoot('root=/dev/vda1 ro\n')).toBeUndefined();
    expect(leapOfBoot('root=/dev/vda1 not_kernel_leap.run=x')).toBeUndefined();
  });
});
