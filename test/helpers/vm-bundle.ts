/** Installs the project's build (dist/) in a guest, where the guest tests run it as `kernel-leap`. */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { execa } from 'execa';

import { runInGuest, type VmConnection } from './vm-ssh.js';

export const DEFAULT_DIST = fileURLToPath(new URL('../../dist', import.meta.url));
const GUEST_DIST = '/usr/local/lib/kernel-leap';
export const GUEST_BUNDLE = `${GUEST_DIST}/kernel-leap.mjs`;
export const GUEST_LAUNCHER = '/usr/local/bin/kernel-leap';

const TINY_LAUNCHER = `#!/bin/sh\nexec /usr/local/bin/node ${GUEST_BUNDLE} "$@"\n`;

/** A file installBundle writes beside the bundle, in the same ssh. */
export interface GuestFile {
  path: string;
  content: string;
  /** Octal, as chmod takes it. */
  mode: string;
}

export interface BundleOptions {
  /** Host path of the build: kernel-leap.mjs and its chunks/; default dist/. */
  dist?: string;
  /** Host path of a launcher script; default a one-line sh that execs node on the bundle. */
  launcher?: string;
  /** More files to write (the config, the credentials). */
  files?: readonly GuestFile[];
}

/**
 * One ssh for all of it: each ssh costs the guest a key exchange, a second or
 * more under TCG. The files go base64-encoded in the command (no quoting to get
 * wrong), the bundle as a tar on stdin.
 */
export async function installBundle(c: VmConnection, options: BundleOptions = {}): Promise<void> {
  const dist = options.dist ?? DEFAULT_DIST;
  if (!existsSync(join(dist, 'kernel-leap.mjs')))
    throw new Error(`${dist}/kernel-leap.mjs is missing: run \`npm run build\` first`);
  // The directory as the README installs it: emptied first, so no older chunk stays.
  const { stdout: tar } = await execa('tar', ['-C', dist, '-cf', '-', '.'], { encoding: 'base64' });
  const launcher = options.launcher ? readFileSync(options.launcher, 'utf8') : TINY_LAUNCHER;
  const files = [
    { path: GUEST_LAUNCHER, content: launcher, mode: '0755' },
    ...(options.files ?? []),
  ];
  await runInGuest(
    c,
    [
      `rm -rf ${GUEST_DIST} && mkdir -p ${GUEST_DIST} && base64 -d | tar -C ${GUEST_DIST} -xf -`,
      `chmod 0755 ${GUEST_BUNDLE}`,
      ...files.map(writeFile),
    ].join(' && '),
    { input: tar },
  );
}

/** Created under umask 077, so a secret is never readable by others on its way to its mode. */
function writeFile(file: GuestFile): string {
  const base64 = Buffer.from(file.content).toString('base64');
  return `mkdir -p ${dirname(file.path)} && (umask 077 && echo '${base64}' | base64 -d > ${file.path}) && chmod ${file.mode} ${file.path}`;
}
