/**
 * The config schema: every key the INI file, the environment and flags may set,
 * with the zod schema that reads its text and checks its type and range, its
 * default and what it takes. One table, so validation, env names and docs agree.
 */
// zod/mini: the same checks as zod's classic API for a fraction of the bundle and startup time.
import * as z from 'zod/mini';

import { parseArgList } from './args.js';
import { parseWindow } from './window.js';

export interface KeySpec<T = unknown> {
  /** Reads the value's text, never empty (an empty value stands for the default). Its messages say what to write instead. */
  schema: z.ZodMiniType<T>;
  default: T;
  /** What the key takes, for the message about a bad value: "is not <takes>". */
  takes: string;
  doc: string;
}

function key<T>(
  schema: z.ZodMiniType<T>,
  fallback: NoInfer<T>,
  takes: string,
  doc: string,
): KeySpec<T> {
  return { schema, default: fallback, takes, doc };
}

/** A key that is unset unless given. */
function optional<T>(schema: z.ZodMiniType<T>, takes: string, doc: string): KeySpec<T | undefined> {
  return { schema, default: undefined, takes, doc };
}

function matching(pattern: RegExp, error: string) {
  return z.string().check(z.regex(pattern, error));
}

export const MAX_SECONDS = 86_400;

const seconds = z.pipe(
  z.pipe(
    z.string().check(z.regex(/^[0-9]+$/, 'use a whole number of seconds, e.g. 120')),
    z.transform(Number),
  ),
  z
    .number()
    .check(
      z.minimum(1, 'use at least 1 second'),
      z.maximum(MAX_SECONDS, `use at most ${MAX_SECONDS} seconds (a day)`),
    ),
);

const bool = z.stringbool({
  truthy: ['true', 'yes', 'on', '1'],
  falsy: ['false', 'no', 'off', '0'],
  error: 'use true or false (or yes/no, on/off, 1/0)',
});

const oneOf = <const V extends readonly [string, ...string[]]>(values: V) =>
  z.enum(values, { error: `use one of: ${values.join(', ')}` });

/** Absolute, and on one line: paths end up in systemd units and in argv. */
const absolutePath = matching(
  /^\/[^\x00-\x1f\x7f]*$/,
  'use an absolute path, starting with /, on one line',
);

/** Text read by a parser that says what is wrong with it: its problem is the key's message. */
function parsedBy<T>(parse: (text: string) => { value: T } | { problem: string }) {
  return z.pipe(
    z.string(),
    z.transform((text: string, ctx) => {
      const parsed = parse(text);
      if ('value' in parsed) return parsed.value;
      ctx.issues.push({ code: 'custom', message: parsed.problem, input: text });
      return z.NEVER;
    }),
  );
}

const args = parsedBy((text) => {
  const parsed = parseArgList(text);
  return parsed.ok ? { value: parsed.args } : parsed;
});

const window = parsedBy((text) => {
  const parsed = parseWindow(text);
  return parsed.ok ? { value: parsed.window } : parsed;
});

const ARGS = 'a list of shell-quoted arguments';
const PATH = 'an absolute path';
const SECONDS = `a whole number of seconds from 1 to ${MAX_SECONDS}`;
const BOOL = 'true or false';

export const SCHEMA = {
  criu: {
    extra_dump_args: key(args, [], ARGS, 'extra criu dump options, shell-quoted'),
    extra_restore_args: key(args, [], ARGS, 'extra criu restore options, shell-quoted'),
    network_lock: key(
      oneOf(['iptables']),
      'iptables',
      'iptables',
      'iptables lock rules, which kernel-leap saves and reloads before the network (CRIU before 4.1 cannot unlock its nftables lock after a restore in a new pidns)',
    ),
  },
  kexec: {
    kernel: optional(
      matching(
        /^(\/[^\x00-\x1f\x7f]*|[0-9A-Za-z][0-9A-Za-z.+~_-]*)$/,
        'use a version from /boot/vmlinuz-<version>, or an absolute vmlinuz path',
      ),
      'a kernel version or an absolute vmlinuz path',
      'kernel version or vmlinuz path (default: the newest installed one newer than the running kernel)',
    ),
    initrd: optional(absolutePath, PATH, 'initrd path (default: the one matching the kernel)'),
    cmdline: optional(
      matching(/^[^\x00-\x1f\x7f]+$/, 'write the command line on one line'),
      'a kernel command line',
      'kernel command line (default: reuse /proc/cmdline)',
    ),
    exec_with: key(
      oneOf(['kexec', 'systemctl']),
      'kexec',
      'kexec or systemctl',
      '`kexec -e` (fast) or `systemctl kexec` (clean shutdown)',
    ),
    verify_checksums: key(
      bool,
      true,
      BOOL,
      'let purgatory verify SHA-256 (slow under emulation; false passes -i)',
    ),
  },
  restore: {
    address_timeout: key(
      seconds,
      120,
      SECONDS,
      'how long to wait for the dumped local addresses at boot',
    ),
    restore_timeout: key(seconds, 120, SECONDS, 'how long criu restore may take'),
    early_addresses: key(
      bool,
      true,
      BOOL,
      'put a leased local address back on its interface at boot, before the network stack does',
    ),
  },
  s3: {
    endpoint: optional(
      z.url({
        protocol: /^https?$/,
        error: 'use an http:// or https:// URL, e.g. http://10.0.2.2:4568',
      }),
      'an http(s) URL',
      'S3 endpoint URL (empty: AWS)',
    ),
    region: optional(
      matching(/^[A-Za-z0-9_-]+$/, 'use letters, digits, - and _, e.g. us-east-1'),
      'a region name',
      "S3 region (empty: the AWS SDK's, from AWS_REGION or the AWS profile)",
    ),
    bucket: optional(
      matching(
        /^[A-Za-z0-9][A-Za-z0-9._-]{1,253}[A-Za-z0-9]$/,
        "use the bucket's name alone, e.g. kernel-leap-logs: letters, digits, dots and hyphens, no s3:// and no /",
      ),
      'an S3 bucket name',
      'bucket; uploads are off while unset',
    ),
    prefix: key(
      matching(
        /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/,
        'use letters, digits, . _ - and / between parts, with no / at either end',
      ),
      'kernel-leap',
      'a key prefix',
      'key prefix; keys are <prefix>/<hostname>/<run id>/<file>',
    ),
    path_style: key(
      bool,
      false,
      BOOL,
      'path-style addressing (most S3-compatible servers need it)',
    ),
    credentials_file: key(
      absolutePath,
      '/etc/kernel-leap/credentials',
      PATH,
      'root-only INI with aws_access_key_id/aws_secret_access_key; else the AWS default chain',
    ),
  },
  auto: {
    enabled: key(
      bool,
      false,
      BOOL,
      '`kernel-leap auto` leaps to a newly installed kernel with every ssh session, inside the window',
    ),
    window: optional(
      window,
      'days and a time range, e.g. Sat 02:00-04:00',
      'when `auto` may leap, in local time: DAYS HH:MM-HH:MM (Mon-Fri, Sat,Sun or *); empty: never',
    ),
  },
  paths: {
    state_dir: key(absolutePath, '/var/lib/kernel-leap', PATH, 'runs, images and logs'),
    node: optional(
      absolutePath,
      PATH,
      "node binary the boot units run (default: the one kernel-leap runs on, the package's own)",
    ),
    bundle: optional(
      absolutePath,
      PATH,
      "kernel-leap bundle the boot units run (default: the one running, the package's own)",
    ),
    keep_images: key(
      bool,
      false,
      BOOL,
      'keep the images of restored runs (default: deleted once the session is back and its logs are shipped)',
    ),
  },
} as const satisfies Record<string, Record<string, KeySpec<unknown>>>;

export type Schema = typeof SCHEMA;
export type SectionName = keyof Schema;

export type Config = {
  [S in SectionName]: {
    [K in keyof Schema[S]]: Schema[S][K] extends { default: infer T } ? T : never;
  };
};

export const DEFAULT_CONFIG_FILE = '/etc/kernel-leap/kernel-leap.conf';

/** KERNEL_LEAP_S3_BUCKET overrides [s3] bucket, and so on. */
export function envName(section: string, key: string): string {
  return `KERNEL_LEAP_${section}_${key}`.toUpperCase();
}
