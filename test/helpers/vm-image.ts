/**
 * The guest image of one test bed (a Debian distribution), built by
 * scripts/guest/build-image.sh and cached outside the repo by a hash of its
 * recipe; the script prints the image's directory.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { execa } from 'execa';

export const BUILD_SCRIPT = fileURLToPath(
  new URL('../../scripts/guest/build-image.sh', import.meta.url),
);

/** The test beds: Debian 12 (CRIU 3.17, OpenSSH 9.2) and Debian 13 (CRIU 4.1, OpenSSH 10.0). */
export const DISTS = ['bookworm', 'trixie'] as const;
export type Dist = (typeof DISTS)[number];
export const DEFAULT_DIST: Dist = 'bookworm';

/** `--dist NAME` as a checked value; the message names the beds there are. */
export function parseDist(value: string | undefined): Dist {
  if (value === undefined) return DEFAULT_DIST;
  if ((DISTS as readonly string[]).includes(value)) return value as Dist;
  throw new Error(`unknown test bed '${value}': use one of ${DISTS.join(', ')}`);
}

/** The only option `npm run vm -- up` and `npm run demo` take: `--dist NAME` or `--dist=NAME`. */
export function distFromArgs(argv: readonly string[], usage: string): Dist {
  const [first, second, ...rest] = argv;
  if (first === undefined) return DEFAULT_DIST;
  if (first === '--dist' && second !== undefined && rest.length === 0) return parseDist(second);
  if (first.startsWith('--dist=') && second === undefined)
    return parseDist(first.slice('--dist='.length));
  throw new Error(`${usage} (got: ${argv.join(' ')})`);
}

export interface VmImage {
  dist: Dist;
  dir: string;
  /** The raw base disk; guests boot from a qcow2 overlay on top of it. */
  disk: string;
  kernel: string;
  initrd: string;
  /** Private key whose public half is in the guest's authorized_keys, root's and `user`'s. */
  key: string;
  /** The non-root user who logs in with the same key. */
  user: string;
  /** A non-root user who logs in with the same key and becomes root with sudo, no password asked. */
  sudoer: string;
  oldKernel: string;
  newKernel: string;
  /** The newer kernel's Debian package, as apt downloaded it for the image: a test installs it again. */
  newKernelDeb: string;
  cmdline: string;
  /**
   * GRUB's i386-pc core image behind lnxboot.img: QEMU's -kernel starts it as a
   * Linux kernel, and it reads /boot/grub/grub.cfg from the disk through the BIOS.
   */
  grub: string;
  buildSeconds: number;
  /** True when this call built the image (a cold build), false when it was cached. */
  built: boolean;
}

interface Manifest {
  user: string;
  sudoer: string;
  oldKernel: string;
  newKernel: string;
  cmdline: string;
  grub: string;
  buildSeconds: number;
}

export function cacheRoot(): string {
  return process.env.KL_TESTBED_CACHE ?? '/var/cache/kernel-leap-testbed';
}

/** Builds the bed's image unless its recipe is cached; build progress goes to stderr as it happens. */
export async function ensureImage(dist: Dist = DEFAULT_DIST): Promise<VmImage> {
  const started = Date.now();
  const result = await execa('bash', [BUILD_SCRIPT, dist], {
    stdin: 'ignore',
    stderr: ['pipe', 'inherit'],
    reject: false,
  });
  if (result.exitCode !== 0) {
    const tail = String(result.stderr).split('\n').slice(-15).join('\n');
    throw new Error(
      `the ${dist} guest image build failed (${BUILD_SCRIPT} ${dist}, exit ${result.exitCode}):\n${tail}`,
    );
  }
  const dir = String(result.stdout).trim().split('\n').pop() ?? '';
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest;
  return {
    dist,
    dir,
    disk: join(dir, 'base.img'),
    kernel: join(dir, `vmlinuz-${manifest.oldKernel}`),
    initrd: join(dir, `initrd.img-${manifest.oldKernel}`),
    key: join(dir, 'id_ed25519'),
    user: manifest.user,
    sudoer: manifest.sudoer,
    oldKernel: manifest.oldKernel,
    newKernel: manifest.newKernel,
    newKernelDeb: join(dir, 'new-kernel.deb'),
    cmdline: manifest.cmdline,
    grub: join(dir, manifest.grub),
    buildSeconds: manifest.buildSeconds,
    // The script finishes at once when the image is cached; a build takes minutes.
    built: Date.now() - started > manifest.buildSeconds * 500,
  };
}
