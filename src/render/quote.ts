/**
 * Quoting for where a value lands. Handlebars escapes for HTML, which is wrong for
 * both sh and systemd, so templates call these helpers explicitly. Every helper
 * refuses NUL, CR and LF: a newline would inject a directive or a command.
 */
import { LeapError } from '../errors.js';

function unsafe(
  value: string,
  why: string,
  hint = 'paths and arguments in generated units and hooks must be single-line',
): never {
  throw new LeapError('TEMPLATE_UNSAFE_VALUE', `refusing ${JSON.stringify(value)}: ${why}`, {
    hint,
  });
}

function refuseControl(value: string, where: string): string {
  if (/[\0\r\n]/.test(value)) unsafe(value, `NUL, CR or LF in ${where}`);
  return value;
}

/** POSIX sh single quotes; dash (Debian's /bin/sh) has no $'...'. */
export function shQuote(value: string): string {
  return singleQuoted(refuseControl(value, 'a shell word'));
}

/**
 * A word of a user's text (a path, an argv word) in a script that runs it, not in
 * a unit or a hook: inside single quotes a CR or LF is one more character of the
 * word, so only NUL, which no path or argument can hold, is refused.
 */
export function shText(value: string): string {
  if (value.includes('\0')) unsafe(value, 'NUL in a shell word');
  return singleQuoted(value);
}

function singleQuoted(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/**
 * One argument (not the first word) of an Exec*= line: C-style double quotes, then
 * systemd's specifiers (% -> %%) and variables ($ -> $$) escaped, as nixpkgs'
 * escapeSystemdExecArg. A quoted ";" is an argument; only a bare one separates commands.
 */
export function execArg(value: string): string {
  return JSON.stringify(refuseControl(value, 'an Exec= argument'))
    .replaceAll('%', '%%')
    .replaceAll('$', () => '$$');
}

/**
 * The executable of an Exec*= line. systemd treats it apart from the arguments:
 * it refuses quotes, backslashes and control characters outright ("Executable name
 * contains special characters"), and never expands $ in it, so "$$" would stay
 * doubled (both seen with systemd-analyze verify, systemd 252). It must be absolute,
 * or a leading -, @, +, ! or : would be read as a prefix.
 */
export function execPath(value: string): string {
  refuseControl(value, 'an Exec= executable');
  if (!value.startsWith('/'))
    unsafe(value, 'an Exec= executable must be an absolute path', 'configure an absolute path');
  if (/[\x01-\x1f\x7f"'\\$]/.test(value)) {
    unsafe(
      value,
      'systemd refuses quotes, backslashes and control characters in an executable path, and keeps $ literal',
      'install the binary at a plainer path, or point kernel-leap at a symlink',
    );
  }
  return `"${value.replaceAll('%', '%%')}"`;
}

/**
 * A plain unit setting value (a description, a number): only specifiers need
 * escaping. systemd strips surrounding whitespace, and a trailing backslash
 * continues the line, so the next directive would silently join this value.
 */
export function unitValue(value: string): string {
  refuseControl(value, 'a unit setting');
  if (value !== value.trim())
    unsafe(value, 'systemd strips leading and trailing whitespace from a setting');
  if (value.endsWith('\\'))
    unsafe(value, 'a trailing backslash continues the line and swallows the next directive');
  return value.replaceAll('%', '%%');
}

/** An absolute path setting (ConditionPathExists=): a leading ! or | would negate or trigger. */
export function unitPath(value: string): string {
  if (!value.startsWith('/'))
    unsafe(value, 'a path in a unit setting must be absolute', 'configure an absolute path');
  return unitValue(value);
}

/** A unit name in a space-separated list (After=, Wants=): one word of systemd's unit-name alphabet. */
export function unitName(value: string): string {
  if (!/^[A-Za-z0-9:_.\\@-]+\.(service|target|socket|mount|path|timer)$/.test(value))
    unsafe(value, 'not a unit name', 'this is a bug in kernel-leap');
  return unitValue(value);
}
