import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { StandardRetryStrategy } from '@smithy/core/retry';
import { describe, expect, it } from 'vitest';

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

  it('opens nothing while the bucket is unset', async () => {
    const config = loadConfig({ env: {}, file: undefined }).config.s3;
    expect(await openS3(config)).toBeUndefined();
  });
});
