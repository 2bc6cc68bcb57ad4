/**
 * The test-bed image, built by scripts/guest/build-image.sh and cached by a hash
 * of its recipe outside the repo (/var/cache/kernel-leap-testbed), so CI on the
 * same machine reuses it. The script builds in a temp dir and renames when whole.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { requireRoot } from './require.js';

export const BUILD_SCRIPT = resolve('scripts/guest/build-image.sh');
export const OLD_KERNEL = '6.1.0-55-cloud-amd64';
export const NEW_KERNEL = '6.1.0-56-cloud-amd64';

export interface GuestImage {
  dir: string;
  disk: string;
  kernel: string;
  initrd: string;
  key: string;
  /** Seconds the build took, when this call built it. */
  builtInS: number | undefined;
}

export function cacheRoot(): string {
  return process.env.KL_TESTBED_CACHE ?? '/var/cache/kernel-leap-testbed';
}

interface Manifest {
  oldKernel: string;
  newKernel: string;
  buildSeconds: number;
}

/** Builds the image unless the recipe's hash is cached; the script prints the image dir. */
export function ensureImage(log: (line: string) => void = () => undefined): GuestImage {
  requireRoot();
  log('ensuring the guest image (a build from scratch takes about 2 minutes)');
  const started = Date.now();
  let dir: string;
  try {
    dir = execFileSync('bash', [BUILD_SCRIPT], { stdio: ['ignore', 'pipe', 'inherit'] }).toString().trim();
  } catch (error) {
    throw new Error(`guest image build failed (its log is above): ${String(error)}`);
  }
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest;
  const elapsed = Math.round((Date.now() - started) / 1000);
  const builtInS = elapsed > 30 ? manifest.buildSeconds : undefined;
  return {
    dir,
    disk: join(dir, 'base.img'),
    kernel: join(dir, `vmlinuz-${manifest.oldKernel}`),
    initrd: join(dir, `initrd.img-${manifest.oldKernel}`),
    key: join(dir, 'id_ed25519'),
    builtInS,
  };
}
