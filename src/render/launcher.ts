/**
 * The launcher shell, /usr/bin/kernel-leap (templates/launcher.sh.hbs), rendered
 * with the node and bundle it runs. Only the packaging and its tests render it:
 * the CLI never does, so it stays out of the bundle.
 */
import launcher from '../../templates/launcher.sh.hbs';
import { compileTemplate } from './templates.js';

export interface LauncherContext {
  node: string;
  bundle: string;
}

export function renderLauncher(context: LauncherContext): string {
  return compileTemplate<LauncherContext>('templates/launcher.sh.hbs', launcher)(context);
}
