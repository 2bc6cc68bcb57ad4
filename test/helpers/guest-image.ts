/**
 * The test-bed image, cached by a hash of its recipe. The cache lives outside the
 * repo (/var/cache/kernel-leap-testbed) so CI on the same machine reuses it; a
 * build goes to a temp dir and is renamed into place only when complete.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { requireCommand, requireRoot } from './require.js';

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

export function recipeHash(): string {
  return createHash('sha256').update(readFileSync(BUILD_SCRIPT)).digest('hex').slice(0, 16);
}

function imageAt(dir: string, builtInS: number | undefined): GuestImage {
  return { dir, disk: join(dir, 'disk.img'), kernel: join(dir, 'vmlinuz'), initrd: join(dir, 'initrd.img'), key: join(dir, 'id_ed25519'), builtInS };
}

export function ensureImage(log: (line: string) => void = () => undefined): GuestImage {
  const dir = join(cacheRoot(), recipeHash());
  if (existsSync(join(dir, 'disk.img'))) return imageAt(dir, undefined);
  requireRoot();
  for (const [cmd, pkg] of [['debootstrap', 'debootstrap'], ['mkfs.ext4', 'e2fsprogs'], ['ssh-keygen', 'openssh-client'], ['apt-get', 'apt']] as const) requireCommand(cmd, pkg);
  mkdirSync(cacheRoot(), { recursive: true });
  const temp = `${dir}.partial-${process.pid}`;
  rmSync(temp, { recursive: true, force: true });
  log(`building the guest image into ${dir} (a few minutes)`);
  const started = Date.now();
  try {
    execFileSync('bash', [BUILD_SCRIPT, temp], { stdio: ['ignore', 'inherit', 'inherit'] });
  } catch (error) {
    rmSync(temp, { recursive: true, force: true });
    throw new Error(`guest image build failed (see the output above): ${String(error)}`);
  }
  renameSync(temp, dir);
  const builtInS = Math.round((Date.now() - started) / 1000);
  log(`guest image built in ${builtInS} s`);
  return imageAt(dir, builtInS);
}
