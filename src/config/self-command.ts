/** How to start kernel-leap again (the worker unit, the restore unit): this node and this bundle, unless the config names others. */
import { realpathSync } from 'node:fs';

import type { Config } from './schema.js';

export interface SelfCommand {
  node: string;
  bundle: string;
}

export function selfCommand(config: Config): SelfCommand {
  return {
    node: config.paths.node ?? process.execPath,
    bundle: config.paths.bundle ?? realpathSync(process.argv[1] ?? ''),
  };
}
