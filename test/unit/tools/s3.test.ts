import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { StandardRetryStrategy } from '@smithy/core/retry';
import { describe, expect, it, vi } from 'vitest';

import { loadConfig } from '../../../src/config/load.js';
import { openS3, S3_CLIENT_DEFAULTS } from '../../../src/tools/s3.js';

function s3Config(endpoint: string | undefined) {
  const dir = mkdtempSync(join(tmpdir(), 'kl-s3-'));
  const file = join(dir, 'credentials');
  writeFileSync(
    file,
    'aws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = not-a-real-secret\n',
    { mode: 0o600 },
  );
  const overrides = [
    's3.bucket=logs',
    's3.region=eu-west-1',
    `s3.credentials_file=${file}`,
    ...(endpoint ? [`s3.endpoint=${endpoint}`] : []),
  ];
  return loadConfig({ env: {}, file: undefined, overrides }).config.s3;
}

describe('the S3 adapter', () => {
  it('sends checksums only where required to a custom endpoint, which may not know them', async () => {
    const target = await openS3(s3Config('http://10.0.2.2:4568'));
    expect(await target?.client.config.requestChecksumCalculation()).toBe('WHEN_REQUIRED');
    expect(await target?.client.config.responseChecksumValidation()).toBe('WHEN_REQUIRED');
  });

  it('keeps the SDK default for AWS itself', async () => {
    const target = await openS3(s3Config(undefined));
    expect(await target?.client.config.requestChecksumCalculation()).toBe('WHEN_SUPPORTED');
  });

  it("retries with the SDK's standard strategy, 4 attempts unless told otherwise", async () => {
    const target = await openS3(s3Config('http://10.0.2.2:4568'));
    expect(await target?.client.config.retryStrategy()).toBeInstanceOf(StandardRetryStrategy);
    expect(await target?.client.config.maxAttempts()).toBe(S3_CLIENT_DEFAULTS.maxAttempts);
    expect(S3_CLIENT_DEFAULTS.maxAttempts).toBe(4);
    const fast = await openS3(s3Config('http://10.0.2.2:4568'), { maxAttempts: 2 });
    expect(await fast?.client.config.maxAttempts()).toBe(2);
  });

  it("takes the region from the config, else from the SDK's chain (AWS_REGION)", async () => {
    const target = await openS3(s3Config(undefined));
    expect(await target?.client.config.region()).toBe('eu-west-1');
    vi.stubEnv('AWS_REGION', 'ap-south-1');
    try {
      const chained = await openS3({ ...s3Config(undefined), region: undefined });
      expect(await chained?.client.config.region()).toBe('ap-south-1');
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('names where to set the region when neither the config nor the SDK has one', async () => {
    vi.stubEnv('AWS_REGION', undefined);
    vi.stubEnv('AWS_CONFIG_FILE', join(mkdtempSync(join(tmpdir(), 'kl-aws-')), 'none'));
    try {
      await expect(openS3({ ...s3Config(undefined), region: undefined })).rejects.toMatchObject({
        code: 'S3_NO_REGION',
        hint: expect.stringContaining('s3.region') as unknown,
      });
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('opens nothing while the bucket is unset', async () => {
    const config = loadConfig({ env: {}, file: undefined }).config.s3;
    expect(await openS3(config)).toBeUndefined();
  });
});
