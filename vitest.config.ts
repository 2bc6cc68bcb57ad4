import { defineConfig } from 'vitest/config';

// Templates and helper programs are imported as text, as esbuild bundles them
// (loader '.hbs' and '.py': 'text').
const TEXT_IMPORTS = /\.(hbs|py)$/;
const importAsText = {
  name: 'import-as-text',
  transform(code: string, id: string) {
    return TEXT_IMPORTS.test(id)
      ? { code: `export default ${JSON.stringify(code)};`, map: null }
      : undefined;
  },
};

// Four projects: unit (pure, no root), integration (real processes on the host),
// guest (real CRIU/kexec/systemd inside a QEMU guest; one file at a time), and slow
// (guest tests too long for CI, run by hand).
export default defineConfig({
  plugins: [importAsText],
  test: {
    globalSetup: ['test/helpers/temp-root.ts'],
    // vitest's own report, and each guest file's time and where it went (the CI log reads it).
    reporters: ['default', './test/helpers/time-reporter.ts'],
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          // Builds the CLI from these sources for the tests that run the bundle.
          globalSetup: ['test/helpers/temp-root.ts', 'test/helpers/fresh-build.ts'],
          testTimeout: 60_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'guest',
          include: ['test/guest/**/*.test.ts'],
          fileParallelism: false,
          testTimeout: 15 * 60_000,
          hookTimeout: 20 * 60_000,
        },
      },
      {
        extends: true,
        // Guest tests too long for CI (a distribution upgrade): `npm run test:slow`.
        test: {
          name: 'slow',
          include: ['test/slow/**/*.test.ts'],
          fileParallelism: false,
          testTimeout: 90 * 60_000,
          hookTimeout: 20 * 60_000,
        },
      },
    ],
  },
});
