/**
 * A small model of how systemd 252 turns an Exec*= value into argv (load-fragment.c
 * config_parse_exec): split into words with quotes and C escapes removed, expand
 * specifiers in each word, then, at exec time, expand $ in the arguments but not in
 * the executable path. Anything our quoting should never produce (a bare ";", a live
 * specifier or variable) throws, so a test fails instead of guessing.
 */
const ESCAPES: Record<string, string> = {
  a: '\x07',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
  s: ' ',
  '\\': '\\',
  '"': '"',
  "'": "'",
};

function unescapeAt(text: string, i: number): [string, number] {
  const c = text[i] ?? '';
  const hex = { x: 2, u: 4, U: 8 }[c];
  if (hex)
    return [String.fromCodePoint(Number.parseInt(text.slice(i + 1, i + 1 + hex), 16)), i + 1 + hex];
  if (/[0-7]/.test(c))
    return [String.fromCharCode(Number.parseInt(text.slice(i, i + 3), 8)), i + 3];
  const plain = ESCAPES[c];
  if (plain === undefined) throw new Error(`unknown escape \\${c}`);
  return [plain, i + 1];
}

function splitWords(text: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  let quote: string | undefined;
  let bare = true;
  const end = (): void => {
    if (word === undefined) return;
    if (bare && word === ';') throw new Error('a bare ";" separates commands');
    words.push(word);
    word = undefined;
    bare = true;
  };
  for (let i = 0; i < text.length;) {
    const c = text[i] ?? '';
    if (!quote && /\s/.test(c)) {
      end();
      i++;
      continue;
    }
    word ??= '';
    if (c === '\\') {
      const [s, next] = unescapeAt(text, i + 1);
      word += s;
      i = next;
      bare = false;
      continue;
    }
    if (quote ? c === quote : c === '"' || c === "'") {
      quote = quote ? undefined : c;
      i++;
      bare = false;
      continue;
    }
    word += c;
    i++;
  }
  if (quote) throw new Error('unbalanced quoting');
  end();
  return words;
}

function expand(word: string, mark: '%' | '$'): string {
  return word.replace(new RegExp(`\\${mark}(.?)`, 'gs'), (_, next: string) => {
    if (next === mark) return mark;
    throw new Error(`live ${mark}${next} in ${JSON.stringify(word)}`);
  });
}

/** The executable path and argv systemd would run for one Exec*= value. */
export function systemdExec(value: string): { path: string; argv: string[] } {
  const [first, ...rest] = splitWords(value).map((w) => expand(w, '%'));
  if (first === undefined) throw new Error('empty command');
  return { path: first, argv: [first, ...rest.map((w) => expand(w, '$'))] };
}

/** The value of the first `Key=` line of a rendered unit. */
export function unitSetting(unit: string, key: string): string {
  const line = unit.split('\n').find((l) => l.startsWith(`${key}=`));
  if (line === undefined) throw new Error(`no ${key}= in unit`);
  return line.slice(key.length + 1);
}
