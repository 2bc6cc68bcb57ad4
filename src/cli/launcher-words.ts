/**
 * The words typed after `kernel-leap`, when the launcher (templates/launcher.sh.hbs) took
 * them off the command lines every user can read: it wrote them, NUL after each,
 * to a root-only file named by KERNEL_LEAP_ARGV, and started Node without them.
 */
import { lstatSync, readFileSync, rmSync } from 'node:fs';

import { ExitCode, LeapError } from '../errors.js';

const ENV = 'KERNEL_LEAP_ARGV';

/**
 * `typed` when the command line has words; else the launcher's file, read once and
 * removed (nothing this starts needs it). Only a regular owner-only file of our own
 * is read: whoever could write it would choose the command root runs.
 */
export function launcherWords(typed: readonly string[], env: NodeJS.ProcessEnv): string[] {
  const file = env[ENV];
  delete env[ENV];
  if (typed.length > 0 || file === undefined) return [...typed];
  const stat = lstatSync(file, { throwIfNoEntry: false });
  const uid = process.getuid?.();
  if (!stat?.isFile() || (stat.mode & 0o077) !== 0 || (uid !== undefined && stat.uid !== uid))
    throw new LeapError(
      'LAUNCHER_ARGV',
      `${ENV}=${file} is not an owner-only file of this user${stat ? ` (mode ${(stat.mode & 0o777).toString(8)}, owner ${stat.uid})` : ' (it does not exist)'}`,
      {
        hint: `run kernel-leap again: its launcher writes this file for Node and Node removes it; unset ${ENV} when running the bundle by hand`,
        exit: ExitCode.usage,
      },
    );
  const words = readFileSync(file, 'utf8').split('\0').slice(0, -1);
  rmSync(file, { force: true });
  return words;
}
