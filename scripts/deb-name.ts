/** The Debian package's file name, for the packaging and for what installs it (the guest tests, `npm run demo`). */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import pkg from '../package.json' with { type: 'json' };

export const PACKAGE = 'kernel-leap';
export const ARCH = 'amd64';

export function debFile(outDir: string): string {
  return join(outDir, `${PACKAGE}_${pkg.version}_${ARCH}.deb`);
}

/** `npm run package`'s: dist/kernel-leap_VERSION_amd64.deb. */
export const DEFAULT_DEB = debFile(fileURLToPath(new URL('../dist', import.meta.url)));
