/**
 * Quoting for where a value lands. Handlebars escapes for HTML, which is wrong for
 * both sh and systemd, so templates call these helpers explicitly. Every helper
 * refuses NUL, CR and LF: a newline would inject a directive or a command.
 */
import { LeapError } from '../errors.js';

function refuseControl(value: string, where: string): string {
  if (/[\0\r\n]/.test(value)) {
    throw new LeapError('TEMPLATE_UNSAFE_VALUE', `refusing a value with NUL, CR or LF in ${where}: ${JSON.stringify(value)}`, {
      hint: 'paths and arguments in generated units and hooks must be single-line',
    });
  }
  return value;
}

/** POSIX sh single quotes; dash (Debian's /bin/sh) has no $'...'. */
export function shQuote(value: string): string {
  return `'${refuseControl(value, 'a shell word').replaceAll("'", `'\\''`)}'`;
}

/** One argument of an Exec*= line: C-style double quotes, then systemd's % and $ expansions escaped. */
export function execArg(value: string): string {
  return JSON.stringify(refuseControl(value, 'an Exec= argument'))
    .replaceAll('%', '%%')
    .replaceAll('$', () => '$$');
}

/** A plain unit setting value (a path, a description): only specifiers need escaping. */
export function unitValue(value: string): string {
  return refuseControl(value, 'a unit setting').replaceAll('%', '%%');
}
