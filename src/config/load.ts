/**
 * Loads the INI config, then the environment, then flags (`--set section.key=value`),
 * validating each value against SCHEMA. A bad value names its source, key and what
 * is allowed.
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
  const overrides = [...Object.entries(envLayer).flatMap(([s, keys]) => Object.entries(keys).map(([k, v]) => `${s}.${k}=${String(v)}`)), ...(options.overrides ?? [])];
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
  const parsed = parse(readFileSync(file, 'utf8')) as Raw;
  for (const [section, value] of Object.entries(parsed)) {
    if (typeof value !== 'object' || value === null) {
      throw configError(`config file ${file}`, section, 'a key outside any section', 'put every key under [criu], [kexec], [restore], [s3] or [paths]');
    }
  }
  return parsed;
}

function defaults(): Raw {
  const out: Raw = {};
  for (const [section, keys] of Object.entries(SCHEMA)) {
    out[section] = Object.fromEntries(Object.entries(keys).map(([k, spec]) => [k, (spec as KeySpec).default]));
  }
  return out;
}

function fromEnv(env: NodeJS.ProcessEnv): Raw {
  const out: Raw = {};
  for (const [section, keys] of Object.entries(SCHEMA)) {
    for (const key of Object.keys(keys)) {
      const value = env[envName(section, key)];
      if (value !== undefined) (out[section] ??= {})[key] = value;
    }
  }
  return out;
}

function fromFlags(overrides: readonly string[]): Raw {
  const out: Raw = {};
  for (const item of overrides) {
    const match = /^([a-z0-9_]+)\.([a-z0-9_]+)=(.*)$/s.exec(item);
    if (!match) {
      throw new LeapError('CONFIG_FLAG', `--set ${item} is not of the form section.key=value`, { hint: 'e.g. --set s3.bucket=logs', exit: ExitCode.usage });
    }
    const [, section = '', key = '', value = ''] = match;
    (out[section] ??= {})[key] = value;
  }
  return out;
}

function applyLayer(config: Raw, layer: Raw, source: string): void {
  for (const [section, keys] of Object.entries(layer)) {
    const specs = (SCHEMA as Record<string, Record<string, KeySpec>>)[section];
    if (!specs) throw configError(source, `[${section}]`, 'an unknown section', `sections are ${Object.keys(SCHEMA).join(', ')}`);
    for (const [key, value] of Object.entries(keys)) {
      const spec = specs[key];
      if (!spec) throw configError(source, `${section}.${key}`, 'an unknown key', `[${section}] takes ${Object.keys(specs).join(', ')}`);
      (config[section] as Record<string, unknown>)[key] = coerce(value, spec, source, `${section}.${key}`);
    }
  }
}

function coerce(value: unknown, spec: KeySpec, source: string, name: string): unknown {
  const text = String(value).trim();
  const type = spec.type;
  if (typeof value === 'boolean' && type === 'bool') return value;
  if (type === 'bool') {
    if (/^(true|yes|1|on)$/i.test(text)) return true;
    if (/^(false|no|0|off)$/i.test(text)) return false;
    throw configError(source, name, `"${text}"`, 'use true or false');
  }
  if (type === 'seconds') {
    const n = Number(text);
    if (!Number.isFinite(n) || n <= 0) throw configError(source, name, `"${text}"`, 'use a positive number of seconds');
    return n;
  }
  if (type === 'args') return text === '' ? [] : text.split(/\s+/);
  if (type === 'path') {
    if (text !== '' && !text.startsWith('/')) throw configError(source, name, `"${text}"`, 'use an absolute path');
    return text === '' ? undefined : text;
  }
  if (typeof type === 'object') {
    if (!type.oneOf.includes(text)) throw configError(source, name, `"${text}"`, `use one of: ${type.oneOf.join(', ')}`);
    return text;
  }
  return text === '' ? undefined : text;
}

function configError(source: string, key: string, what: string, allowed: string): LeapError {
  return new LeapError('CONFIG_INVALID', `${source}: ${key} has ${what}`, { hint: allowed, exit: ExitCode.config });
}
