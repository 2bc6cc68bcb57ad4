/**
 * A cancel request: the launcher shell in the session turns Ctrl-C into the file
 * `<run>/cancel`, and the worker stops at its next step before the freeze. After
 * the freeze the session cannot hear Ctrl-C at all.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** The launcher (templates/launcher.sh.hbs) writes this name. */
export const CANCEL_FILE = 'cancel';

export function cancelRequested(runDir: string): boolean {
  return existsSync(join(runDir, CANCEL_FILE));
}
