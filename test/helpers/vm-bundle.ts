/** Installs the project's bundle in a guest, where the guest tests run it as `kernel-leap`. */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { copyIn, runInGuest, type VmConnection } from './vm-ssh.js';

export const DEFAULT_BUNDLE = fileURLToPath(new URL('../../dist/kernel-leap.mjs', import.meta.url));
export const GUEST_BUNDLE = '/usr/local/lib/kernel-leap/kernel-leap.mjs';
export const GUEST_LAUNCHER = '/usr/local/bin/kernel-leap';

const TINY_LAUNCHER = `#!/bin/sh\nexec /usr/local/bin/node ${GUEST_BUNDLE} "$@"\n`;

export interface BundleOptions {
  /** Host path of the bundle; default dist/kernel-leap.mjs. */
  bundle?: string;
  /** Host path of a launcher script; default a one-line sh that execs node on the bundle. */
  launcher?: string;
}

export async function installBundle(c: VmConnection, options: BundleOptions = {}): Promise<void> {
  const bundle = options.bundle ?? DEFAULT_BUNDLE;
  if (!existsSync(bundle)) throw new Error(`${bundle} is missing: run \`npm run build\` first`);
  await runInGuest(c, `mkdir -p /usr/local/lib/kernel-leap`);
  await copyIn(c, bundle, GUEST_BUNDLE);
  if (options.launcher) await copyIn(c, options.launcher, GUEST_LAUNCHER);
  else await runInGuest(c, `cat > ${GUEST_LAUNCHER}`, { input: TINY_LAUNCHER });
  await runInGuest(c, `chmod 0755 ${GUEST_BUNDLE} ${GUEST_LAUNCHER}`);
}
