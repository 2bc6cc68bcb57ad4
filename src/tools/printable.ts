/**
 * What another user wrote (a process title, a command line, a path, a tty or user
 * name, a command's output) must never reach root's terminal as bytes it acts on:
 * an escape sequence can retitle the window, clear the screen, move the cursor over
 * a verdict, or, with a bidi override (U+202E), show text in another order than it
 * reads. Text output escapes such characters with `printable`; JSON that kernel-leap
 * writes escapes them with `jsonText`. Here, below every layer that shows text: the
 * runner's command log needs it too.
 */

/**
 * C0 controls, DEL and C1 controls (Cc), format characters such as the bidi
 * overrides and isolates, zero-width joiners and the BOM (Cf), line and paragraph
 * separators (Zl, Zp), and halves of a surrogate pair on their own (Cs).
 */
const UNPRINTABLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/gu;

/** What a JSON string may hold raw that a terminal acts on; JSON.stringify already escapes C0. */
const JSON_UNPRINTABLE = /[\u007f-\u009f\p{Cf}\p{Zl}\p{Zp}]/gu;

const NAMED: Readonly<Record<string, string>> = { '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/**
 * One line of text as a terminal shows it safely: each unprintable character as
 * `\xHH`, `\uHHHH` or `\u{HHHHH}` (a tab, a newline and a carriage return as `\t`,
 * `\n`, `\r`, so that no value can start a line of its own). Applying it twice
 * changes nothing more.
 */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, escapeChar);
}

/** Text of several lines (kernel-leap's own line breaks): each line made printable. */
export function printableLines(text: string): string {
  return text.split('\n').map(printable).join('\n');
}

/** JSON.stringify, with what a terminal would act on in a string escaped as \uHHHH: still the same JSON. */
export function jsonText(value: unknown, indent?: number): string {
  return JSON.stringify(value, null, indent).replace(JSON_UNPRINTABLE, jsonEscape);
}

function escapeChar(char: string): string {
  const named = NAMED[char];
  if (named !== undefined) return named;
  const code = char.codePointAt(0) ?? 0;
  if (code <= 0xff) return `\\x${hex(code, 2)}`;
  return code <= 0xffff ? `\\u${hex(code, 4)}` : `\\u{${code.toString(16)}}`;
}

/** Each UTF-16 unit of the character (two for one beyond the BMP, as JSON spells it). */
function jsonEscape(char: string): string {
  return Array.from({ length: char.length }, (_, i) => `\\u${hex(char.charCodeAt(i), 4)}`).join('');
}

function hex(code: number, digits: number): string {
  return code.toString(16).padStart(digits, '0');
}
