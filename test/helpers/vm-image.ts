/**
 * The guest image, built by scripts/guest/build-image.sh and cached outside the
 * repo by a hash of its recipe; the script prints the image's directory.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

export const BUILD_SCRIPT = fileURLToPath(new URL('../../scripts/guest/build-image.sh', import.meta.url));

export interface VmImage {
  dir: string;
  /** The raw base disk; guests boot from a qcow2 overlay on top of it. */
  disk: string;
  kernel: string;
  initrd: string;
  /** Private key whose public half is in the guest's /root/.ssh/authorized_keys. */
  key: string;
  oldKernel: string;
  newKernel: string;
  cmdline: string;
  buildSeconds: number;
  /** True when this call built the image (a cold build), false when it was cached. */
  built: boolean;
}

interface Manifest {
  oldKernel: string;
  newKernel: string;
  cmdline: string;
  buildSeconds: number;
}

export function cacheRoot(): string {
  return process.env.KL_TESTBED_CACHE ?? '/var/cache/kernel-leap-testbed';
}

/** Builds the image unless this recipe is cached; build progress goes to stderr as it happens. */
export async function ensureImage(): Promise<VmImage> {
  const started = Date.now();
  const result = await execa('bash', [BUILD_SCRIPT], { stdin: 'ignore', stderr: ['pipe', 'inherit'], reject: false });
  if (result.exitCode !== 0) {
    const tail = String(result.stderr).split('\n').slice(-15).join('\n');
    throw new Error(`the guest image build failed (${BUILD_SCRIPT}, exit ${result.exitCode}):\n${tail}`);
  }
  const dir = String(result.stdout).trim().split('\n').pop() ?? '';
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest;
  return {
    dir,
    disk: join(dir, 'base.img'),
    kernel: join(dir, `vmlinuz-${manifest.oldKernel}`),
    initrd: join(dir, `initrd.img-${manifest.oldKernel}`),
    key: join(dir, 'id_ed25519'),
    oldKernel: manifest.oldKernel,
    newKernel: manifest.newKernel,
    cmdline: manifest.cmdline,
    buildSeconds: manifest.buildSeconds,
    // The script finishes at once when the image is cached; a build takes minutes.
    built: Date.now() - started > manifest.buildSeconds * 500,
  };
}
