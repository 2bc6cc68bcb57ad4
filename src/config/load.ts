/**
 * Loads the INI config, then the environment, then flags (`--set section.key=value`),
 * reading each value with its key's schema in SCHEMA (zod). A bad value, an unknown
 * key or an unknown section names its source and key; a bad value also its text,
 * what the key takes and what to write instead. An empty value stands for the default.
 */
import { existsSync, readFileSync } from 'node:fs';

import { parse } from 'ini';

import { ExitCode, LeapError } from '../errors.js';
import { type Config, DEFAULT_CONFIG_FILE, envName, type KeySpec, SCHEMA } from './schema.js';

export interface LoadConfigOptions {
  /** Explicit --config FILE: it must exist. Without it the default file is optional. */
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** `section.key=value` strings from flags. */
  overrides?: readonly string[];
}

export interface LoadedConfig {
  config: Config;
  file: string | undefined;
  /** Every environment and flag override as `section.key=value`, to hand to a worker process. */
  overrides: string[];
}

type Raw = Record<string, Record<string, unknown>>;

export function loadConfig(options: LoadConfigOptions = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const file = options.file ?? env.KERNEL_LEAP_CONFIG ?? DEFAULT_CONFIG_FILE;
  const explicit = options.file !== undefined || env.KERNEL_LEAP_CONFIG !== undefined;
  const fromFile = readIniFile(file, explicit);
  const config = defaults();
  applyLayer(config, fromFile ?? {}, `config file ${file}`);
  const envLayer = fromEnv(env);
  applyLayer(config, envLayer, 'environment');
  applyLayer(config, fromFlags(options.overrides ?? []), 'flag --set');
  const overrides = [
    ...Object.entries(envLayer).flatMap(([s, keys]) =>
      Object.entries(keys).map(([k, v]) => `${s}.${k}=${String(v)}`),
    ),
    ...(options.overrides ?? []),
  ];
  return { config: config as Config, file: fromFile ? file : undefined, overrides };
}

function readIniFile(file: string, required: boolean): Raw | undefined {
  if (!existsSync(file)) {
    if (!required) return undefined;
    throw new LeapError('CONFIG_MISSING', `config file ${file} does not exist`, {
      hint: 'create it, or drop --config / KERNEL_LEAP_CONFIG to use the defaults',
      exit: ExitCode.config,
    });
  }
  const parsed = parse(readFileSync(file, 'utf8'));
  for (const [section, value] of Object.entries(parsed)) {
    if (typeof value !== 'object' || value === null) {
      throw configError(
        `config file ${file}`,
        section,
        'a key outside any section',
        `put every key under one of ${Object.keys(SCHEMA)
          .map((s) => `[${s}]`)
          .join(', ')}`,
      );
    }
  }
  return parsed;
}

const SECTIONS: Record<string, Record<string, KeySpec>> = SCHEMA;

function defaults(): Raw {
  const out: Raw = {};
  for (const [section, keys] of Object.entries(SECTIONS)) {
    out[section] = Object.fromEntries(
      Object.entries(keys).map(([k, spec]) => [k, structuredClone(spec.default)]),
    );
  }
  return out;
}

function fromEnv(env: NodeJS.ProcessEnv): Raw {
  const out: Raw = {};
  for (const [name, value] of Object.entries(env)) {
    const section = Object.keys(SCHEMA).find((s) => name.startsWith(envName(s, '')));
    if (section === undefined || value === undefined) continue;
    const keys = SECTIONS[section] ?? {};
    const key = Object.keys(keys).find((k) => envName(section, k) === name);
    if (key === undefined) {
      throw configError(
        'environment',
        name,
        'an unknown key',
        `[${section}] takes ${Object.keys(keys)
          .map((k) => envName(section, k))
          .join(', ')}`,
      );
    }
    (out[section] ??= {})[key] = value;
  }
  return out;
}

function fromFlags(overrides: readonly string[]): Raw {
  const out: Raw = {};
  for (const item of overrides) {
    const match = /^([a-z0-9_]+)\.([a-z0-9_]+)=(.*)$/s.exec(item);
    if (!match) {
      throw new LeapError('CONFIG_FLAG', `--set ${item} is not of the form section.key=value`, {
        hint: 'e.g. --set s3.bucket=logs',
        exit: ExitCode.usage,
      });
    }
    const [, section = '', key = '', value = ''] = match;
    (out[section] ??= {})[key] = value;
  }
  return out;
}

function applyLayer(config: Raw, layer: Raw, source: string): void {
  for (const [section, keys] of Object.entries(layer)) {
    const specs = SECTIONS[section];
    if (!specs)
      throw configError(
        source,
        `[${section}]`,
        'an unknown section',
        `sections are ${Object.keys(SCHEMA).join(', ')}`,
      );
    for (const [key, value] of Object.entries(keys)) {
      const spec = specs[key];
      if (!spec)
        throw configError(
          source,
          `${section}.${key}`,
          'an unknown key',
          `[${section}] takes ${Object.keys(specs).join(', ')}`,
        );
      (config[section] as Record<string, unknown>)[key] = read(
        value,
        spec,
        source,
        `${section}.${key}`,
      );
    }
  }
}

/** The INI reader's scalar (a string, or a boolean it parsed) as text; nothing is ''. */
function scalarText(value: unknown): string {
  if (typeof value === 'string') return value;
  return typeof value === 'boolean' || typeof value === 'number' ? String(value) : '';
}

function read(value: unknown, spec: KeySpec, source: string, name: string): unknown {
  // The INI reader makes `key[] = v` a list and turns true/false into booleans.
  if (typeof value === 'object' && value !== null)
    throw configError(source, name, 'a list or a subsection', spec.takes);
  const text = scalarText(value).trim();
  if (text === '') return spec.default;
  const parsed = spec.schema.safeParse(text);
  if (parsed.success) return parsed.data;
  throw new LeapError(
    'CONFIG_INVALID',
    `${source}: ${name} = ${JSON.stringify(text)} is not ${spec.takes}`,
    {
      hint: parsed.error.issues[0]?.message ?? `use ${spec.takes}`,
      exit: ExitCode.config,
    },
  );
}

function configError(source: string, key: string, what: string, allowed: string): LeapError {
  return new LeapError('CONFIG_INVALID', `${source}: ${key} has ${what}`, {
    hint: allowed,
    exit: ExitCode.config,
  });
}
