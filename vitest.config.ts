import { defineConfig } from 'vitest/config';

// Three projects: unit (pure, no root), integration (real processes on the host),
// guest (real CRIU/kexec/systemd inside a QEMU guest; one file at a time).
export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      { test: { name: 'integration', include: ['test/integration/**/*.test.ts'], testTimeout: 60_000 } },
      {
        test: {
          name: 'guest',
          include: ['test/guest/**/*.test.ts'],
          fileParallelism: false,
          testTimeout: 15 * 60_000,
          hookTimeout: 20 * 60_000,
        },
      },
    ],
  },
});
