/**
 * A real S3 server (s3rver) on the host's loopback, which the guest reaches at
 * 10.0.2.2 through QEMU's user network. Stop and start it again on the same port
 * to test the spool.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
// @ts-expect-error s3rver ships no types
import S3rver from 's3rver';

import { freePort } from './vm-qemu.js';

export const S3_KEY = 'S3RVER';
export const S3_SECRET = 'S3RVER';

interface Running {
  close(): Promise<void>;
}

export class LocalS3 {
  readonly dir = mkdtempSync(join(tmpdir(), 'kl-s3-'));
  private server: Running | undefined;

  constructor(
    readonly port: number,
    readonly bucket: string,
  ) {}

  static async start(bucket = 'kernel-leap-logs'): Promise<LocalS3> {
    const s3 = new LocalS3(await freePort(), bucket);
    await s3.resume();
    return s3;
  }

  async resume(): Promise<void> {
    const server = new S3rver({
      address: '127.0.0.1',
      port: this.port,
      directory: this.dir,
      silent: true,
      configureBuckets: [{ name: this.bucket }],
    });
    await server.run();
    this.server = server as Running;
  }

  async stop(): Promise<void> {
    await this.server?.close();
    this.server = undefined;
  }

  client(): S3Client {
    return new S3Client({
      endpoint: `http://127.0.0.1:${this.port}`,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: S3_KEY, secretAccessKey: S3_SECRET },
    });
  }

  async keys(prefix = ''): Promise<string[]> {
    const out = await this.client().send(
      new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix }),
    );
    return (out.Contents ?? []).map((o) => o.Key ?? '').sort();
  }

  async text(key: string): Promise<string> {
    const out = await this.client().send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
    return (await out.Body?.transformToString()) ?? '';
  }

  /** The guest's config: the shipped defaults, with the [s3] section a user sets for this server. */
  guestConfig(prefix = 'kl-test'): string {
    return [
      '[s3]',
      `endpoint = http://10.0.2.2:${this.port}`,
      'region = us-east-1',
      `bucket = ${this.bucket}`,
      `prefix = ${prefix}`,
      'path_style = true',
      '',
    ].join('\n');
  }
}

export const GUEST_CREDENTIALS = `[default]\naws_access_key_id = ${S3_KEY}\naws_secret_access_key = ${S3_SECRET}\n`;
