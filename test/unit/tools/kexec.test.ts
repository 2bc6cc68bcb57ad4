import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { installedKernels } from '../../../src/tools/facts.js';
import { resolveKernel } from '../../../src/tools/kexec.js';

function boot(versions: readonly string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'kl-boot-'));
  for (const v of versions) {
    writeFileSync(join(dir, `vmlinuz-${v}`), '');
    writeFileSync(join(dir, `initrd.img-${v}`), '');
  }
  return dir;
}

describe('the target kernel', () => {
  it('is by default the newest installed one that is not running, by version order (behaviour 4)', () => {
    const kernels = installedKernels(boot(['6.1.0-9-cloud-amd64', '6.1.0-56-cloud-amd64', '6.1.0-55-cloud-amd64', '6.1.0-10-cloud-amd64']));
    expect(resolveKernel(undefined, '6.1.0-55-cloud-amd64', kernels).version).toBe('6.1.0-56-cloud-amd64');
    expect(resolveKernel(undefined, '6.1.0-56-cloud-amd64', kernels).version).toBe('6.1.0-55-cloud-amd64');
  });

  it('names what is installed when the asked version is not', () => {
    const kernels = installedKernels(boot(['6.1.0-55-cloud-amd64']));
    expect(() => resolveKernel('6.1.0-99-cloud-amd64', '6.1.0-55-cloud-amd64', kernels)).toThrowError(expect.objectContaining({ code: 'KERNEL_NOT_FOUND', hint: 'installed: 6.1.0-55-cloud-amd64' }));
  });
});
