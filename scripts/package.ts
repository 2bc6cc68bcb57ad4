// `npm run package`: dist/kernel-leap_VERSION_amd64.deb from dist/ (`npm run build`
// runs first). What is in it: docs/packaging.md.
import { join } from 'node:path';

import { buildPackage } from './deb.js';
import { DEFAULT_DEB } from './deb-name.js';

const started = performance.now();
const deb = buildPackage({ build: join(DEFAULT_DEB, '..'), outDir: join(DEFAULT_DEB, '..') });
console.log(`package: ${deb} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
