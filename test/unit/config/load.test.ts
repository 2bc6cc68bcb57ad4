import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';

function configFile(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'kl-config-')), 'kernel-leap.conf');
  writeFileSync(file, text);
  return file;
}

describe('loadConfig', () => {
  it('uses defaults when the default file is absent', () => {
    const { config, file } = loadConfig({ env: { KERNEL_LEAP_CONFIG: undefined }, file: undefined });
    expect(file).toBeUndefined();
    expect(config.paths.state_dir).toBe('/var/lib/kernel-leap');
    expect(config.s3.bucket).toBeUndefined();
    expect(config.kexec.exec_with).toBe('kexec');
  });

  it('layers file < environment < flags', () => {
    const file = configFile('[s3]\nbucket = from-file\nregion = eu-west-1\nprefix = p\n[restore]\naddress_timeout = 30\n');
    const env = { KERNEL_LEAP_S3_BUCKET: 'from-env', KERNEL_LEAP_S3_REGION: 'us-west-2' };
    const { config } = loadConfig({ file, env, overrides: ['s3.bucket=from-flag'] });
    expect(config.s3.bucket).toBe('from-flag');
    expect(config.s3.region).toBe('us-west-2');
    expect(config.s3.prefix).toBe('p');
    expect(config.restore.address_timeout).toBe(30);
  });

  it('reports env and flag overrides so a worker process can be given the same config', () => {
    const { overrides } = loadConfig({ env: { KERNEL_LEAP_CRIU_EXTRA_DUMP_ARGS: '--action-script /x' }, overrides: ['s3.bucket=b'] });
    expect(overrides).toEqual(['criu.extra_dump_args=--action-script /x', 's3.bucket=b']);
  });

  it('parses booleans and argument lists', () => {
    const file = configFile('[s3]\npath_style = true\n[criu]\nextra_dump_args = --timeout 10\n[kexec]\nverify_checksums = no\n');
    const { config } = loadConfig({ file, env: {} });
    expect(config.s3.path_style).toBe(true);
    expect(config.kexec.verify_checksums).toBe(false);
    expect(config.criu.extra_dump_args).toEqual(['--timeout', '10']);
  });

  it('names the file, the key and what is allowed for a bad value', () => {
    const file = configFile('[kexec]\nexec_with = reboot\n');
    expect(() => loadConfig({ file, env: {} })).toThrowError(expect.objectContaining({
      code: 'CONFIG_INVALID',
      message: `config file ${file}: kexec.exec_with has "reboot"`,
      hint: 'use one of: kexec, systemctl',
    }));
  });

  it('rejects unknown keys and sections, naming the source', () => {
    expect(() => loadConfig({ file: configFile('[s3]\naccess_key = x\n'), env: {} })).toThrowError(/s3\.access_key has an unknown key/);
    expect(() => loadConfig({ file: configFile('[nope]\na = 1\n'), env: {} })).toThrowError(/\[nope\] has an unknown section/);
    expect(() => loadConfig({ env: { KERNEL_LEAP_RESTORE_ADDRESS_TIMEOUT: '-3' } })).toThrowError(/environment: restore.address_timeout has "-3"/);
    expect(() => loadConfig({ env: {}, overrides: ['paths.state_dir=relative'] })).toThrowError(/flag --set: paths.state_dir has "relative"/);
  });

  it('requires an explicitly named file to exist', () => {
    expect(() => loadConfig({ file: '/nonexistent/kl.conf', env: {} })).toThrowError(expect.objectContaining({ code: 'CONFIG_MISSING' }));
  });

  it('rejects a malformed --set', () => {
    expect(() => loadConfig({ env: {}, overrides: ['bucket'] })).toThrowError(expect.objectContaining({ code: 'CONFIG_FLAG' }));
  });
});
