/**
 * A list-of-arguments setting (`[criu] extra_dump_args`) is written the way a
 * shell would take it: `--action-script "/opt/my hook.sh"` is two arguments.
 * shell-quote does the quoting; what a shell would do beyond quoting (operators,
 * globs, comments, variables) is refused, since nothing here runs a shell and
 * silently passing or dropping it would hand criu something else than was meant.
 */
import { parse } from 'shell-quote';

export type ArgList = { ok: true; args: string[] } | { ok: false; problem: string };

/** Marks a `$NAME` in the parse result; shell-quote inserts what the env lookup returns. */
interface Variable {
  variable: string;
}

export function parseArgList(text: string): ArgList {
  const entries = parse<Variable>(text, (name) => ({ variable: name }));
  for (const entry of entries) {
    if (typeof entry === 'string') continue;
    return { ok: false, problem: describe(entry) };
  }
  const open = openQuote(text);
  if (open) return { ok: false, problem: open };
  return { ok: true, args: entries as string[] };
}

function describe(entry: Exclude<ReturnType<typeof parse<Variable>>[number], string>): string {
  if ('variable' in entry) {
    if (!entry.variable)
      return "$ starts a shell substitution, which is not run here; write '$' to pass a dollar sign";
    return `$${entry.variable} is a shell variable, which is not expanded here; write '$${entry.variable}' to pass it as it is`;
  }
  if ('comment' in entry) return "# starts a shell comment; write '#' to pass it in an argument";
  if (entry.op === 'glob')
    return `${entry.pattern} is a shell glob, which is not expanded here; write '${entry.pattern}' to pass it as it is`;
  return `${entry.op} is a shell operator, and this is a list of arguments, not a command; write '${entry.op}' to pass it in an argument`;
}

/** shell-quote reads an unclosed quote or a trailing backslash as if closed; a shell refuses both, and so do we. */
function openQuote(text: string): string | undefined {
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote === "'") {
      if (c === "'") quote = undefined;
    } else if (c === '\\') {
      if (i === text.length - 1) return 'it ends in a lone backslash; write \\\\ for a backslash';
      i++;
    } else if (quote === '"') {
      if (c === '"') quote = undefined;
    } else if (c === "'" || c === '"') {
      quote = c;
    }
  }
  if (quote === "'") return `a ' is not closed; for an apostrophe write "it's" or it\\'s`;
  if (quote === '"') return 'a " is not closed';
  return undefined;
}
