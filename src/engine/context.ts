/** What every flow runs with: the command runner, the config, and where progress goes. */
import type { Config } from '../config/schema.js';
import type { HostPaths } from '../tools/host-paths.js';
import type { Runner } from '../tools/runner.js';
import type { Progress } from './progress.js';

export interface EngineContext {
  runner: Runner;
  config: Config;
  out: Progress;
  host: HostPaths;
}
