/**
 * The config file as the package ships it (/etc/kernel-leap/kernel-leap.conf):
 * every key of SCHEMA, commented out with its default, under its section, with
 * what it does and what it takes. Generated, so it cannot drift from the schema;
 * uncommenting any line leaves the config as it was (test/unit/config/reference.test.ts).
 */
import { quote } from 'shell-quote';

import { DEFAULT_CONFIG_FILE, envName, type KeySpec, SCHEMA } from './schema.js';

const WIDTH = 78;

/** Words joined into `# ` lines of at most WIDTH columns. */
function comment(text: string): string[] {
  const lines: string[] = [];
  let line = '#';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line.length > 1 && line.length + 1 + word.length > WIDTH) {
      lines.push(line);
      line = '#';
    }
    line += ` ${word}`;
  }
  return [...lines, line];
}

/** The text the key's schema reads back to its default; empty for a key unset by default. */
export function defaultText(value: unknown): string {
  if (value === undefined) return '';
  if (Array.isArray(value)) return quote(value.map(String));
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')
    return String(value);
  throw new Error(`no INI text for the default ${JSON.stringify(value)}`);
}

function keyLines(key: string, spec: KeySpec): string[] {
  const value = defaultText(spec.default);
  const doc = spec.doc.charAt(0).toUpperCase() + spec.doc.slice(1);
  return [
    ...comment(`${doc}. Takes ${spec.takes}${value === '' ? '; unset by default' : ''}.`),
    `#${key} = ${value}`.trimEnd(),
    '',
  ];
}

const SECTIONS: Record<string, Record<string, KeySpec>> = SCHEMA;

export function configReference(): string {
  return [
    ...comment(
      `${DEFAULT_CONFIG_FILE}: the configuration of kernel-leap (INI). Every key is shown commented out, with its default: uncomment a line and change its value to set it. An empty value means the default. In the environment, ${envName('section', 'key')} overrides a key (e.g. ${envName('s3', 'bucket')}), and the flag --set section.key=value overrides both. See kernel-leap(8).`,
    ),
    '',
    ...Object.entries(SECTIONS).flatMap(([section, keys]) => [
      `[${section}]`,
      ...Object.entries(keys).flatMap(([key, spec]) => keyLines(key, spec)),
    ]),
  ]
    .join('\n')
    .trimEnd()
    .concat('\n');
}
