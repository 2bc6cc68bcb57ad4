import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { loadConfig } from '../../../src/config/load.js';
import { type KeySpec, SCHEMA } from '../../../src/config/schema.js';

function configFile(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'kl-config-')), 'kernel-leap.conf');
  writeFileSync(file, text);
  return file;
}

describe('loadConfig', () => {
  it('uses defaults when the default file is absent', () => {
    const { config, file } = loadConfig({
      env: { KERNEL_LEAP_CONFIG: undefined },
      file: undefined,
    });
    expect(file).toBeUndefined();
    expect(config.paths.state_dir).toBe('/var/lib/kernel-leap');
    expect(config.s3.bucket).toBeUndefined();
    expect(config.kexec.exec_with).toBe('kexec');
  });

  it('layers file < environment < flags', () => {
    const file = configFile(
      '[s3]\nbucket = from-file\nregion = eu-west-1\nprefix = p\n[restore]\naddress_timeout = 30\n',
    );
    const env = { KERNEL_LEAP_S3_BUCKET: 'from-env', KERNEL_LEAP_S3_REGION: 'us-west-2' };
    const { config } = loadConfig({ file, env, overrides: ['s3.bucket=from-flag'] });
    expect(config.s3.bucket).toBe('from-flag');
    expect(config.s3.region).toBe('us-west-2');
    expect(config.s3.prefix).toBe('p');
    expect(config.restore.address_timeout).toBe(30);
  });

  it('reports env and flag overrides so a worker process can be given the same config', () => {
    const { overrides } = loadConfig({
      env: { KERNEL_LEAP_CRIU_EXTRA_DUMP_ARGS: '--action-script "/opt/my hook.sh"' },
      overrides: ['s3.bucket=logs'],
    });
    expect(overrides).toEqual([
      'criu.extra_dump_args=--action-script "/opt/my hook.sh"',
      's3.bucket=logs',
    ]);
    expect(loadConfig({ env: {}, overrides }).config.criu.extra_dump_args).toEqual([
      '--action-script',
      '/opt/my hook.sh',
    ]);
  });

  it('parses booleans and argument lists', () => {
    const file = configFile(
      "[s3]\npath_style = true\n[criu]\nextra_dump_args = --timeout 10 --action-script \"/opt/my hook.sh\"\nextra_restore_args = /opt/a\\ b --note 'it'\\''s' 'a\\;b'\n[kexec]\nverify_checksums = no\n",
    );
    const { config } = loadConfig({ file, env: {} });
    expect(config.s3.path_style).toBe(true);
    expect(config.kexec.verify_checksums).toBe(false);
    expect(config.criu.extra_dump_args).toEqual([
      '--timeout',
      '10',
      '--action-script',
      '/opt/my hook.sh',
    ]);
    // The INI reader ends the value at an unescaped ; or #, and strips quotes that wrap the whole value.
    expect(config.criu.extra_restore_args).toEqual(['/opt/a b', '--note', "it's", 'a;b']);
  });

  it('names the file, the key, the value and what is allowed for a bad value, with exit 7', () => {
    const file = configFile('[kexec]\nexec_with = reboot\n');
    expect(() => loadConfig({ file, env: {} })).toThrowError(
      expect.objectContaining({
        code: 'CONFIG_INVALID',
        exit: 7,
        message: `config file ${file}: kexec.exec_with = "reboot" is not kexec or systemctl`,
        hint: 'use one of: kexec, systemctl',
      }),
    );
  });

  it('reads an [auto] window from the file, and refuses one it cannot read, saying how to write it', () => {
    const { config } = loadConfig({
      file: configFile('[auto]\nenabled = yes\nwindow = Sat,Sun 02:00-04:00\n'),
      env: {},
    });
    expect(config.auto).toEqual({
      enabled: true,
      window: { days: [0, 6], start: 120, end: 240, text: 'Sat,Sun 02:00-04:00' },
    });
    const file = configFile('[auto]\nwindow = weekends 2-4\n');
    expect(() => loadConfig({ file, env: {} })).toThrowError(
      expect.objectContaining({
        code: 'CONFIG_INVALID',
        message: `config file ${file}: auto.window = "weekends 2-4" is not days and a time range, e.g. Sat 02:00-04:00`,
        hint: 'write DAYS HH:MM-HH:MM, e.g. Sat 02:00-04:00, Mon-Fri 01:30-03:00 or * 03:00-04:00',
      }),
    );
    expect(loadConfig({ env: {} }).config.auto).toEqual({ enabled: false, window: undefined });
  });

  it('refuses a timeout that is not a whole number of seconds at load, not later at render', () => {
    const file = configFile('[restore]\naddress_timeout = 1.5\n');
    expect(() => loadConfig({ file, env: {} })).toThrowError(
      expect.objectContaining({
        code: 'CONFIG_INVALID',
        exit: 7,
        message: `config file ${file}: restore.address_timeout = "1.5" is not a whole number of seconds from 1 to 86400`,
        hint: 'use a whole number of seconds, e.g. 120',
      }),
    );
    expect(() => loadConfig({ env: {}, overrides: ['restore.restore_timeout=0'] })).toThrowError(
      expect.objectContaining({ hint: 'use at least 1 second' }),
    );
    expect(() =>
      loadConfig({ env: {}, overrides: ['restore.restore_timeout=86401'] }),
    ).toThrowError(expect.objectContaining({ hint: expect.stringContaining('at most 86400') }));
    expect(() => loadConfig({ env: {}, overrides: ['restore.restore_timeout=1e3'] })).toThrowError(
      /restore_timeout = "1e3" is not a whole number/,
    );
    expect(
      loadConfig({ env: {}, overrides: ['restore.restore_timeout=86400'] }).config.restore
        .restore_timeout,
    ).toBe(86_400);
  });

  it.each([
    ['s3.path_style=maybe', 's3.path_style = "maybe" is not true or false'],
    ['kexec.verify_checksums=2', 'kexec.verify_checksums = "2" is not true or false'],
    ['s3.endpoint=10.0.2.2:4568', 's3.endpoint = "10.0.2.2:4568" is not an http(s) URL'],
    ['s3.endpoint=ftp://10.0.2.2', 's3.endpoint = "ftp://10.0.2.2" is not an http(s) URL'],
    ['s3.bucket=s3://logs', 's3.bucket = "s3://logs" is not an S3 bucket name'],
    ['s3.prefix=/ci/', 's3.prefix = "/ci/" is not a key prefix'],
    ['paths.state_dir=var/lib/kl', 'paths.state_dir = "var/lib/kl" is not an absolute path'],
    ['paths.node=node', 'paths.node = "node" is not an absolute path'],
    [
      's3.credentials_file=credentials',
      's3.credentials_file = "credentials" is not an absolute path',
    ],
    ['kexec.initrd=boot/initrd.img', 'kexec.initrd = "boot/initrd.img" is not an absolute path'],
    [
      'kexec.kernel=boot/vmlinuz',
      'kexec.kernel = "boot/vmlinuz" is not a kernel version or an absolute vmlinuz path',
    ],
    ['criu.network_lock=nftables', 'criu.network_lock = "nftables" is not iptables'],
  ])('refuses --set %s', (flag, message) => {
    expect(() => loadConfig({ env: {}, overrides: [flag] })).toThrowError(
      expect.objectContaining({
        code: 'CONFIG_INVALID',
        exit: 7,
        message: `flag --set: ${message}`,
      }),
    );
  });

  it('takes every kind of good value', () => {
    const { config } = loadConfig({
      env: {},
      overrides: [
        's3.endpoint=https://s3.example.com:9000',
        's3.bucket=kernel-leap-logs',
        's3.prefix=ci/host-a',
        's3.path_style=ON',
        'kexec.kernel=6.1.0-31-amd64',
        'kexec.initrd=/boot/initrd.img-6.1.0-31-amd64',
        'kexec.cmdline=root=/dev/vda1 console=ttyS0',
        'kexec.exec_with=systemctl',
        "paths.bundle=/opt/it's.mjs",
      ],
    });
    expect(config.s3).toMatchObject({
      endpoint: 'https://s3.example.com:9000',
      bucket: 'kernel-leap-logs',
      prefix: 'ci/host-a',
      path_style: true,
    });
    expect(config.kexec).toMatchObject({
      kernel: '6.1.0-31-amd64',
      initrd: '/boot/initrd.img-6.1.0-31-amd64',
      cmdline: 'root=/dev/vda1 console=ttyS0',
      exec_with: 'systemctl',
    });
    expect(
      loadConfig({ env: {}, overrides: ['kexec.kernel=/boot/vmlinuz-6.1.0-31-amd64'] }).config.kexec
        .kernel,
    ).toBe('/boot/vmlinuz-6.1.0-31-amd64');
  });

  it('reads an empty value as the default', () => {
    const file = configFile(
      '[s3]\nbucket = logs\nregion =\n[paths]\nstate_dir =\n[restore]\naddress_timeout =\n',
    );
    const { config } = loadConfig({ file, env: {}, overrides: ['s3.bucket='] });
    expect(config.s3.bucket).toBeUndefined();
    expect(config.s3.region).toBeUndefined();
    expect(config.paths.state_dir).toBe('/var/lib/kernel-leap');
    expect(config.restore.address_timeout).toBe(120);
  });

  it('has defaults that its own schema accepts', () => {
    for (const [section, keys] of Object.entries(
      SCHEMA as Record<string, Record<string, KeySpec>>,
    )) {
      for (const [key, spec] of Object.entries(keys)) {
        if (spec.default === undefined) continue;
        const text = Array.isArray(spec.default)
          ? spec.default.join(' ')
          : JSON.stringify(spec.default).replace(/^"|"$/g, '');
        if (text === '') continue;
        expect(spec.schema.parse(text), `${section}.${key}`).toEqual(spec.default);
      }
    }
  });

  it('rejects unknown keys and sections, naming the source and the known ones', () => {
    expect(() => loadConfig({ file: configFile('[s3]\naccess_key = x\n'), env: {} })).toThrowError(
      expect.objectContaining({
        message: expect.stringMatching(/s3\.access_key has an unknown key$/),
        hint: '[s3] takes endpoint, region, bucket, prefix, path_style, credentials_file',
        exit: 7,
      }),
    );
    expect(() => loadConfig({ file: configFile('[nope]\na = 1\n'), env: {} })).toThrowError(
      expect.objectContaining({
        message: expect.stringMatching(/\[nope\] has an unknown section$/),
        hint: 'sections are criu, kexec, restore, s3, auto, paths',
      }),
    );
    expect(() => loadConfig({ file: configFile('bucket = x\n'), env: {} })).toThrowError(
      /bucket has a key outside any section/,
    );
    expect(() => loadConfig({ env: {}, overrides: ['s3.bukket=x'] })).toThrowError(
      /flag --set: s3.bukket has an unknown key/,
    );
    expect(() => loadConfig({ env: { KERNEL_LEAP_RESTORE_ADDRESS_TIMEOUT: '-3' } })).toThrowError(
      /environment: restore.address_timeout = "-3" is not a whole number/,
    );
    expect(() => loadConfig({ env: {}, overrides: ['paths.state_dir=relative'] })).toThrowError(
      /flag --set: paths.state_dir = "relative" is not an absolute path/,
    );
  });

  it('rejects an unknown KERNEL_LEAP_<SECTION>_<KEY>, and leaves other KERNEL_LEAP_ variables alone', () => {
    expect(() => loadConfig({ env: { KERNEL_LEAP_S3_BUKET: 'logs' } })).toThrowError(
      expect.objectContaining({
        message: 'environment: KERNEL_LEAP_S3_BUKET has an unknown key',
        hint: expect.stringContaining('KERNEL_LEAP_S3_BUCKET'),
        exit: 7,
      }),
    );
    expect(
      loadConfig({ env: { KERNEL_LEAP_NODE: '/usr/bin/node', KERNEL_LEAP_HANDOFF: '1' } }).config
        .paths.node,
    ).toBeUndefined();
  });

  it('refuses a list (key[] =) where the key takes one value', () => {
    expect(() =>
      loadConfig({
        file: configFile('[criu]\nextra_dump_args[] = --a\nextra_dump_args[] = --b\n'),
        env: {},
      }),
    ).toThrowError(/criu.extra_dump_args has a list or a subsection/);
  });

  it('requires an explicitly named file to exist', () => {
    expect(() => loadConfig({ file: '/nonexistent/kl.conf', env: {} })).toThrowError(
      expect.objectContaining({ code: 'CONFIG_MISSING' }),
    );
  });

  it('rejects a malformed --set', () => {
    expect(() => loadConfig({ env: {}, overrides: ['bucket'] })).toThrowError(
      expect.objectContaining({ code: 'CONFIG_FLAG' }),
    );
  });
});
