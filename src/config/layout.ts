/**
 * Where the Debian package (`npm run package`, docs/packaging.md) puts kernel-leap:
 * the one place these paths are written. The launcher is rendered with them, the
 * packaged units run the launcher, and the boot units run the node and bundle the
 * leap itself was started with (config/self-command.ts), which are these.
 */
import { posix } from 'node:path';

const LIB_DIR = '/usr/lib/kernel-leap';

export const LAYOUT = {
  /** The package's own files: its runtime and the bundle. */
  libDir: LIB_DIR,
  /** A private Node: Debian 12's own is 18, and the AWS SDK needs 22. */
  node: posix.join(LIB_DIR, 'node'),
  /** dist/ of `npm run build`: this entry and its chunks/. */
  bundle: posix.join(LIB_DIR, 'kernel-leap.mjs'),
  /** What the user types, and what `upgrade` hands the wait to while the session is dumped. */
  launcher: '/usr/bin/kernel-leap',
  /** The packaged units and timers (units/). */
  unitDir: '/usr/lib/systemd/system',
} as const;

/** The lowest Node major the bundle and its AWS SDK run on. */
export const MIN_NODE_MAJOR = 22;
