import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { openS3 } from '../../../src/tools/s3.js';

function s3Config(endpoint: string | undefined) {
  const dir = mkdtempSync(join(tmpdir(), 'kl-s3-'));
  const file = join(dir, 'credentials');
  writeFileSync(file, 'aws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = not-a-real-secret\n', { mode: 0o600 });
  const overrides = ['s3.bucket=logs', `s3.credentials_file=${file}`, ...(endpoint ? [`s3.endpoint=${endpoint}`] : [])];
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
});
