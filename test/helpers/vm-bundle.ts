/** Installs the project's build (dist/) in a guest, where the guest tests run it as `kernel-leap`. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { execa } from 'execa';

import { copyIn, runInGuest, type VmConnection } from './vm-ssh.js';

export const DEFAULT_DIST = fileURLToPath(new URL('../../dist', import.meta.url));
const GUEST_DIST = '/usr/local/lib/kernel-leap';
export const GUEST_BUNDLE = `${GUEST_DIST}/kernel-leap.mjs`;
export const GUEST_LAUNCHER = '/usr/local/bin/kernel-leap';

const TINY_LAUNCHER = `#!/bin/sh\nexec /usr/local/bin/node ${GUEST_BUNDLE} "$@"\n`;

export interface BundleOptions {
  /** Host path of the build: kernel-leap.mjs and its chunks/; default dist/. */
  dist?: string;
  /** Host path of a launcher script; default a one-line sh that execs node on the bundle. */
  launcher?: string;
}

export async function installBundle(c: VmConnection, options: BundleOptions = {}): Promise<void> {
  const dist = options.dist ?? DEFAULT_DIST;
  if (!existsSync(join(dist, 'kernel-leap.mjs')))
    throw new Error(`${dist}/kernel-leap.mjs is missing: run \`npm run build\` first`);
  // The directory as the README installs it: emptied first, so no older chunk stays.
  const { stdout: tar } = await execa('tar', ['-C', dist, '-cf', '-', '.'], { encoding: 'base64' });
  await runInGuest(
    c,
    `rm -rf ${GUEST_DIST} && mkdir -p ${GUEST_DIST} && base64 -d | tar -C ${GUEST_DIST} -xf -`,
    { input: tar },
  );
  if (options.launcher) await copyIn(c, options.launcher, GUEST_LAUNCHER);
  else await runInGuest(c, `cat > ${GUEST_LAUNCHER}`, { input: TINY_LAUNCHER });
  await runInGuest(c, `chmod 0755 ${GUEST_BUNDLE} ${GUEST_LAUNCHER}`);
}
