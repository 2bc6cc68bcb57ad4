/**
 * Thin adapter over @aws-sdk/client-s3: any S3-compatible endpoint. Retries are the
 * SDK's standard strategy (exponential backoff with full jitter, only for errors it
 * deems transient: a store that is down, a timeout, a 5xx, throttling; never a 403),
 * and every attempt has a connection and a request timeout.
 */
import type { S3Client } from '@aws-sdk/client-s3';

import type { Config } from '../config/schema.js';
import { ExitCode, LeapError } from '../errors.js';
import { ensureHome, readCredentialsFile, type S3Credentials } from './credentials.js';

export interface S3Target {
  client: S3Client;
  bucket: string;
  credentials: S3Credentials;
}

export interface S3ClientOptions {
  /** Attempts per request, the first included (the SDK's maxAttempts). */
  maxAttempts: number;
  /** Base of the backoff: the n-th retry waits a random time up to baseDelayMs * 2^(n-1). */
  baseDelayMs: number;
  /** Longest wait for the TCP connection, per attempt. */
  connectionTimeoutMs: number;
  /** Longest an attempt may take once connected. */
  requestTimeoutMs: number;
}

/** Up to 4 attempts, the retries after up to 0.5 s, 1 s and 2 s. A run that still fails stays spooled. */
export const S3_CLIENT_DEFAULTS: S3ClientOptions = {
  maxAttempts: 4,
  baseDelayMs: 500,
  connectionTimeoutMs: 5_000,
  requestTimeoutMs: 30_000,
};

type S3Sdk = typeof import('@aws-sdk/client-s3');

/**
 * The SDK's client package is CommonJS: its chunk in the build exports only a
 * default (module.exports), where Node's own import also names each export.
 */
async function s3Sdk(): Promise<S3Sdk> {
  const sdk: S3Sdk & { default?: S3Sdk } = await import('@aws-sdk/client-s3');
  return sdk.default ?? sdk;
}

export async function openS3(
  config: Config['s3'],
  options: Partial<S3ClientOptions> = {},
): Promise<S3Target | undefined> {
  if (!config.bucket) return undefined;
  const { maxAttempts, baseDelayMs, connectionTimeoutMs, requestTimeoutMs } = {
    ...S3_CLIENT_DEFAULTS,
    ...options,
  };
  ensureHome();
  const fromFile = readCredentialsFile(config.credentials_file);
  // Loaded on demand: the SDK is most of the bundle, and the restore path must start fast.
  const [{ S3Client }, { StandardRetryStrategy }] = await Promise.all([
    s3Sdk(),
    import('@smithy/core/retry'),
  ]);
  const client = new S3Client({
    // Unset, the SDK's chain finds it: AWS_REGION, then the AWS profile's region.
    ...(config.region ? { region: config.region } : {}),
    forcePathStyle: config.path_style,
    maxAttempts,
    retryStrategy: new StandardRetryStrategy({ maxAttempts, baseDelay: baseDelayMs }),
    // NodeHttpHandler's options; without throwOnRequestTimeout a slow request only logs a warning.
    requestHandler: {
      connectionTimeout: connectionTimeoutMs,
      requestTimeout: requestTimeoutMs,
      throwOnRequestTimeout: true,
    },
    ...(config.endpoint ? customEndpoint(config.endpoint) : {}),
    ...(fromFile ? { credentials: fromFile } : {}),
  });
  await requireRegion(client);
  const credentials = fromFile ?? (await client.config.credentials());
  return { client, bucket: config.bucket, credentials };
}

/** The SDK's "Region is missing" says nothing of where a region is set; this does. */
async function requireRegion(client: S3Client): Promise<void> {
  try {
    await client.config.region();
  } catch (cause) {
    throw new LeapError(
      'S3_NO_REGION',
      'no S3 region: [s3] region is unset, and neither AWS_REGION nor the AWS profile names one',
      {
        hint: 'set it in the config ([s3] region = eu-west-1, or --set s3.region=eu-west-1), or export AWS_REGION',
        exit: ExitCode.config,
        cause,
      },
    );
  }
}

/**
 * SDK releases since early 2025 add CRC32 checksums to every upload by default,
 * which several S3-compatible stores reject; AWS's advice for them is WHEN_REQUIRED.
 */
function customEndpoint(endpoint: string) {
  return {
    endpoint,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  } as const;
}

/** One PutObject; the client retries it as openS3 configured. */
export async function putObject(
  target: S3Target,
  key: string,
  body: Buffer,
  contentType: string,
): Promise<void> {
  const { PutObjectCommand } = await s3Sdk();
  await target.client.send(
    new PutObjectCommand({ Bucket: target.bucket, Key: key, Body: body, ContentType: contentType }),
  );
}
