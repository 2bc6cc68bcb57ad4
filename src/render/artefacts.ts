/** One typed render function per generated artefact. */
import actionScript from '../../templates/criu-action.sh.hbs';
import ifPreUp from '../../templates/if-pre-up.hbs';
import restoreUnit from '../../templates/kernel-leap-restore.service.hbs';
import rulesUnit from '../../templates/kernel-leap-rules.service.hbs';
import { compileTemplate } from './templates.js';

export interface RulesContext {
  rulesFile: string;
  iptablesRestore: string;
  marker: string;
}

export interface RestoreUnitContext {
  pendingFile: string;
  node: string;
  bundle: string;
  timeoutSec: number;
  rulesUnit: string;
}

export interface ActionScriptContext {
  pidFile: string;
}

/** Compiles (and lints) on first use, not at start-up. */
function lazy<C extends object>(name: string, source: string): (context: C) => string {
  let render: ((context: C) => string) | undefined;
  return (context) => (render ??= compileTemplate<C>(name, source))(context);
}

export const renderRulesUnit = lazy<RulesContext>('templates/kernel-leap-rules.service.hbs', rulesUnit);
export const renderIfPreUpHook = lazy<RulesContext>('templates/if-pre-up.hbs', ifPreUp);
export const renderRestoreUnit = lazy<RestoreUnitContext>('templates/kernel-leap-restore.service.hbs', restoreUnit);
export const renderActionScript = lazy<ActionScriptContext>('templates/criu-action.sh.hbs', actionScript);
