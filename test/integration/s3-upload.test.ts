import { chmodSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';

import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { loadConfig } from '../../src/config/load.js';
import { Journal } from '../../src/state/journal.js';
import { spoolDir, spooledRuns, uploadRun } from '../../src/steps/report/upload.js';
import { copyOfBuild } from '../helpers/built.js';
import { requireRoot } from '../helpers/require.js';
import { GUEST_CREDENTIALS, LocalS3, S3_SECRET } from '../helpers/s3rver.js';

/** Short retries for tests; the SDK's standard strategy all the same. */
const FAST = { maxAttempts: 3, baseDelayMs: 10 };

/** A store that answers every request the same way, and counts them. */
async function fakeStore(
  answer: (res: ServerResponse) => void,
): Promise<{ endpoint: string; hits: () => number; close: () => Promise<void> }> {
  let hits = 0;
  const server: Server = createServer((req, res) => {
    hits++;
    req.resume();
    answer(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    hits: () => hits,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function s3Error(status: number, code: string, message: string) {
  return (res: ServerResponse) => {
    res.writeHead(status, { 'content-type': 'application/xml' });
    res.end(
      `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>kl</RequestId></Error>`,
    );
  };
}

/** The SDK's own count of the requests it sent, on the error that ended the upload. */
function attempts(error: unknown): number | undefined {
  return (error as { cause?: { $metadata?: { attempts?: number } } }).cause?.$metadata?.attempts;
}

// A real s3rver on loopback; the upload goes through @aws-sdk/client-s3 over HTTP.
describe('uploads to a real S3 server', () => {
  let s3: LocalS3;
  const stateDir = mkdtempSync(join(tmpdir(), 'kl-s3-state-'));
  const credentials = join(stateDir, 'credentials');

  beforeAll(async () => {
    s3 = await LocalS3.start();
    writeFileSync(credentials, GUEST_CREDENTIALS, { mode: 0o600 });
  });
  afterAll(async () => s3.stop());

  const config = () =>
    loadConfig({
      env: {},
      overrides: [
        `paths.state_dir=${stateDir}`,
        `s3.endpoint=http://127.0.0.1:${s3.port}`,
        `s3.bucket=${s3.bucket}`,
        's3.path_style=true',
        's3.prefix=ci',
        's3.region=us-east-1',
        `s3.credentials_file=${credentials}`,
      ],
    }).config;

  function fakeRun(id: string): Journal {
    const journal = Journal.create(stateDir, 'upgrade', id);
    writeFileSync(join(journal.paths.logs, 'dump.log'), '(00.1) dumping\n');
    writeFileSync(join(journal.paths.dir, 'report.json'), '{"outcome":"restored"}\n');
    return journal;
  }

  it('puts the journal, report and logs under <prefix>/<hostname>/<run id>/, with no credential inside', async () => {
    const journal = fakeRun('run-up');
    const out = await uploadRun(config(), journal);
    const prefix = `ci/${hostname()}/run-up`;
    expect(await s3.keys(prefix)).toEqual([
      `${prefix}/journal.json`,
      `${prefix}/logs/dump.log`,
      `${prefix}/report.json`,
    ]);
    expect(out.keys).toHaveLength(3);
    for (const key of await s3.keys(prefix)) expect(await s3.text(key)).not.toContain(S3_SECRET);
    expect(spooledRuns(stateDir)).not.toContain('run-up');
  });

  // What the guest runs: the build, whose SDK chunk exports only a default (needs root, as upload-logs does).
  it('ships a spooled run through the build, as `kernel-leap upload-logs`', async () => {
    requireRoot();
    fakeRun('run-built');
    // Spooled as an upload that a store down ended: upload-logs ships what the spool names.
    mkdirSync(spoolDir(stateDir), { recursive: true, mode: 0o700 });
    writeFileSync(join(spoolDir(stateDir), 'run-built'), 'the store was down\n', { mode: 0o600 });
    const set = [
      `paths.state_dir=${stateDir}`,
      `s3.endpoint=http://127.0.0.1:${s3.port}`,
      `s3.bucket=${s3.bucket}`,
      's3.path_style=true',
      's3.prefix=ci',
      `s3.credentials_file=${credentials}`,
    ].flatMap((v) => ['--set', v]);
    // Not spawnSync: the store answers from this very process. No region in the
    // config: the SDK's chain takes AWS_REGION.
    const result = await execa(
      process.execPath,
      [copyOfBuild('kl-s3-build-'), ...set, 'upload-logs'],
      {
        env: { PATH: process.env.PATH ?? '', HOME: stateDir, AWS_REGION: 'us-east-1' },
        extendEnv: false,
        reject: false,
        all: true,
      },
    );
    expect(result.exitCode, result.all).toBe(0);
    expect(spooledRuns(stateDir)).not.toContain('run-built');
    expect(await s3.keys(`ci/${hostname()}/run-built`)).toContain(
      `ci/${hostname()}/run-built/journal.json`,
    );
  });

  it('retries a store that is down with the SDK strategy, spools the run, and ships it later', async () => {
    const journal = fakeRun('run-down');
    await s3.stop();
    const started = Date.now();
    const failure = await uploadRun(config(), journal, FAST).catch((e: unknown) => e);
    expect(failure).toMatchObject({
      code: 'UPLOAD_FAILED',
      message: expect.stringContaining('ECONNREFUSED'),
      hint: expect.stringContaining('upload-logs'),
    });
    expect(attempts(failure)).toBe(3);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(spooledRuns(stateDir)).toContain('run-down');
    await s3.resume();
    await uploadRun(config(), journal);
    expect(spooledRuns(stateDir)).not.toContain('run-down');
    expect(await s3.keys(`ci/${hostname()}/run-down`)).toContain(
      `ci/${hostname()}/run-down/journal.json`,
    );
  });

  it('does not retry a 403, and spools the run', async () => {
    const store = await fakeStore(s3Error(403, 'AccessDenied', 'Access Denied'));
    try {
      const denied = loadConfig({
        env: {},
        overrides: [
          `paths.state_dir=${stateDir}`,
          `s3.endpoint=${store.endpoint}`,
          's3.bucket=logs',
          's3.path_style=true',
          's3.region=us-east-1',
          `s3.credentials_file=${credentials}`,
        ],
      }).config;
      const failure = await uploadRun(denied, fakeRun('run-denied'), FAST).catch((e: unknown) => e);
      expect(failure).toMatchObject({
        code: 'UPLOAD_FAILED',
        message: expect.stringContaining('Access Denied'),
      });
      expect(store.hits()).toBe(1);
      expect(attempts(failure)).toBe(1);
      expect(spooledRuns(stateDir)).toContain('run-denied');
    } finally {
      await store.close();
    }
  });

  it('with no region anywhere, names where to set one, and spools the run for upload-logs', async () => {
    vi.stubEnv('AWS_REGION', undefined);
    vi.stubEnv('AWS_CONFIG_FILE', join(stateDir, 'no-aws-config'));
    try {
      const { s3: section, ...rest } = config();
      const regionless = { ...rest, s3: { ...section, region: undefined } };
      await expect(uploadRun(regionless, fakeRun('run-regionless'))).rejects.toMatchObject({
        code: 'S3_NO_REGION',
        hint: expect.stringContaining('AWS_REGION') as unknown,
      });
      expect(spooledRuns(stateDir)).toContain('run-regionless');
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('retries a 503 up to the attempt count, as the 403 above would have been had it been transient', async () => {
    const store = await fakeStore(
      s3Error(503, 'ServiceUnavailable', 'Please reduce your request rate'),
    );
    try {
      const busy = loadConfig({
        env: {},
        overrides: [
          `paths.state_dir=${stateDir}`,
          `s3.endpoint=${store.endpoint}`,
          's3.bucket=logs',
          's3.path_style=true',
          's3.region=us-east-1',
          `s3.credentials_file=${credentials}`,
        ],
      }).config;
      await expect(uploadRun(busy, fakeRun('run-busy'), FAST)).rejects.toMatchObject({
        code: 'UPLOAD_FAILED',
      });
      expect(store.hits()).toBe(3);
    } finally {
      await store.close();
    }
  });

  it('gives up on a store that never answers after the request timeout, per attempt', async () => {
    const store = await fakeStore(() => undefined);
    try {
      const silent = loadConfig({
        env: {},
        overrides: [
          `paths.state_dir=${stateDir}`,
          `s3.endpoint=${store.endpoint}`,
          's3.bucket=logs',
          's3.path_style=true',
          's3.region=us-east-1',
          `s3.credentials_file=${credentials}`,
        ],
      }).config;
      const started = Date.now();
      const failure = await uploadRun(silent, fakeRun('run-silent'), {
        ...FAST,
        maxAttempts: 2,
        requestTimeoutMs: 300,
      }).catch((e: unknown) => e);
      expect(failure).toMatchObject({
        code: 'UPLOAD_FAILED',
        message: expect.stringContaining('300 ms requestTimeout'),
      });
      expect(store.hits()).toBe(2);
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(spooledRuns(stateDir)).toContain('run-silent');
    } finally {
      await store.close();
    }
  });

  it('refuses a credentials file others can read, and a file holding the secret', async () => {
    chmodSync(credentials, 0o644);
    await expect(uploadRun(config(), fakeRun('run-exposed'))).rejects.toMatchObject({
      code: 'CREDENTIALS_EXPOSED',
      hint: expect.stringContaining('chmod 600'),
    });
    chmodSync(credentials, 0o600);
    const leaky = fakeRun('run-leaky');
    writeFileSync(
      join(leaky.paths.logs, 'oops.log'),
      `key=${'A'.repeat(4)} secret=S3RVER-LONG-SECRET\n`,
    );
    writeFileSync(
      credentials,
      GUEST_CREDENTIALS.replace(
        /aws_secret_access_key = .*/,
        'aws_secret_access_key = S3RVER-LONG-SECRET',
      ),
      { mode: 0o600 },
    );
    await expect(uploadRun(config(), leaky)).rejects.toMatchObject({
      message: expect.stringContaining('contains a credential'),
    });
    expect(existsSync(join(stateDir, 'spool', 'run-leaky'))).toBe(true);
    writeFileSync(credentials, GUEST_CREDENTIALS, { mode: 0o600 });
  });
});
