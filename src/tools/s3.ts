/** Thin adapter over @aws-sdk/client-s3: any S3-compatible endpoint, our own bounded retry. */
import type { S3Client } from '@aws-sdk/client-s3';
import type { Config } from '../config/schema.js';
import { ensureHome, readCredentialsFile, type S3Credentials } from './credentials.js';

export interface S3Target {
  client: S3Client;
  bucket: string;
  credentials: S3Credentials;
}

export async function openS3(config: Config['s3']): Promise<S3Target | undefined> {
  if (!config.bucket) return undefined;
  ensureHome();
  const fromFile = readCredentialsFile(config.credentials_file);
  // Loaded on demand: the SDK is most of the bundle, and the restore path must start fast.
  const { S3Client } = await import('@aws-sdk/client-s3');
  const client = new S3Client({
    region: config.region,
    forcePathStyle: config.path_style,
    // Retries are ours (putWithRetry): the SDK's would multiply them.
    maxAttempts: 1,
    ...(config.endpoint ? customEndpoint(config.endpoint) : {}),
    ...(fromFile ? { credentials: fromFile } : {}),
  });
  const credentials = fromFile ?? (await client.config.credentials());
  return { client, bucket: config.bucket, credentials };
}

/**
 * SDK releases since early 2025 add CRC32 checksums to every upload by default,
 * which several S3-compatible stores reject; AWS's advice for them is WHEN_REQUIRED.
 */
function customEndpoint(endpoint: string) {
  return { endpoint, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' } as const;
}

export interface RetryPolicy {
  tries: number;
  firstDelayMs: number;
}

export async function putWithRetry(target: S3Target, key: string, body: Buffer, contentType: string, policy: RetryPolicy): Promise<void> {
  const { PutObjectCommand } = await import('@aws-sdk/client-s3');
  let delay = policy.firstDelayMs;
  for (let attempt = 1; ; attempt++) {
    try {
      await target.client.send(new PutObjectCommand({ Bucket: target.bucket, Key: key, Body: body, ContentType: contentType }));
      return;
    } catch (error) {
      if (attempt >= policy.tries) throw error;
      await new Promise((r) => setTimeout(r, delay));
      delay *= 2;
    }
  }
}
