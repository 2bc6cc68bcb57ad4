/**
 * The config schema: every key the INI file, the environment and flags may set,
 * with its type and default. One table, so validation, env names and docs agree.
 */
export type KeyType = 'string' | 'path' | 'bool' | 'seconds' | 'args' | { oneOf: readonly string[] };

export interface KeySpec {
  type: KeyType;
  default: string | number | boolean | string[] | undefined;
  doc: string;
}

export const SCHEMA = {
  criu: {
    extra_dump_args: { type: 'args', default: [], doc: 'extra criu dump options, space-separated' },
    extra_restore_args: { type: 'args', default: [], doc: 'extra criu restore options, space-separated' },
    network_lock: { type: { oneOf: ['iptables'] }, default: 'iptables', doc: 'CRIU 3.17 can only unlock iptables locks after a restore in a new pidns' },
  },
  kexec: {
    kernel: { type: 'string', default: undefined, doc: 'kernel version or vmlinuz path (default: newest installed that is not running)' },
    initrd: { type: 'path', default: undefined, doc: 'initrd path (default: the one matching the kernel)' },
    cmdline: { type: 'string', default: undefined, doc: 'kernel command line (default: reuse /proc/cmdline)' },
    exec_with: { type: { oneOf: ['kexec', 'systemctl'] }, default: 'kexec', doc: '`kexec -e` (fast) or `systemctl kexec` (clean shutdown)' },
    verify_checksums: { type: 'bool', default: true, doc: 'let purgatory verify SHA-256 (slow under emulation; false passes -i)' },
  },
  restore: {
    address_timeout: { type: 'seconds', default: 120, doc: 'how long to wait for the dumped local addresses at boot' },
    restore_timeout: { type: 'seconds', default: 120, doc: 'how long criu restore may take' },
  },
  s3: {
    endpoint: { type: 'string', default: undefined, doc: 'S3 endpoint URL (empty: AWS)' },
    region: { type: 'string', default: 'us-east-1', doc: 'S3 region' },
    bucket: { type: 'string', default: undefined, doc: 'bucket; uploads are off while unset' },
    prefix: { type: 'string', default: 'kernel-leap', doc: 'key prefix; keys are <prefix>/<hostname>/<run id>/<file>' },
    path_style: { type: 'bool', default: false, doc: 'path-style addressing (most S3-compatible servers need it)' },
    credentials_file: { type: 'path', default: '/etc/kernel-leap/credentials', doc: 'root-only INI with aws_access_key_id/aws_secret_access_key; else the AWS default chain' },
  },
  paths: {
    state_dir: { type: 'path', default: '/var/lib/kernel-leap', doc: 'runs, images and logs' },
    node: { type: 'path', default: undefined, doc: 'node binary the boot units run (default: this one)' },
    bundle: { type: 'path', default: undefined, doc: 'kernel-leap bundle the boot units run (default: this one)' },
  },
} as const satisfies Record<string, Record<string, KeySpec>>;

export type Schema = typeof SCHEMA;
export type SectionName = keyof Schema;

type ValueOf<S extends KeySpec> = S['type'] extends { oneOf: readonly (infer U)[] }
  ? U
  : S['type'] extends 'bool'
  ? boolean
  : S['type'] extends 'seconds'
    ? number
    : S['type'] extends 'args'
      ? string[]
      : S['default'] extends undefined
        ? string | undefined
        : string;

export type Config = { [S in SectionName]: { [K in keyof Schema[S]]: Schema[S][K] extends KeySpec ? ValueOf<Schema[S][K]> : never } };

export const DEFAULT_CONFIG_FILE = '/etc/kernel-leap/kernel-leap.conf';

/** KERNEL_LEAP_S3_BUCKET overrides [s3] bucket, and so on. */
export function envName(section: string, key: string): string {
  return `KERNEL_LEAP_${section}_${key}`.toUpperCase();
}
