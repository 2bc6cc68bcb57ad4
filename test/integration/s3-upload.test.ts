import { chmodSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { Journal } from '../../src/state/journal.js';
import { spooledRuns, uploadRun } from '../../src/steps/upload.js';
import { GUEST_CREDENTIALS, LocalS3, S3_SECRET } from '../helpers/s3rver.js';

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

  const config = () => loadConfig({ env: {}, overrides: [`paths.state_dir=${stateDir}`, `s3.endpoint=http://127.0.0.1:${s3.port}`, `s3.bucket=${s3.bucket}`, 's3.path_style=true', 's3.prefix=ci', `s3.credentials_file=${credentials}`] }).config;

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
    expect(await s3.keys(prefix)).toEqual([`${prefix}/journal.json`, `${prefix}/logs/dump.log`, `${prefix}/report.json`]);
    expect(out.keys).toHaveLength(3);
    for (const key of await s3.keys(prefix)) expect(await s3.text(key)).not.toContain(S3_SECRET);
    expect(spooledRuns(stateDir)).not.toContain('run-up');
  });

  it('spools the run while the server is down, with bounded retries, and ships it later', async () => {
    const journal = fakeRun('run-down');
    await s3.stop();
    const started = Date.now();
    await expect(uploadRun(config(), journal, { tries: 3, firstDelayMs: 100 })).rejects.toMatchObject({ code: 'UPLOAD_FAILED', hint: expect.stringContaining('upload-logs') });
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(spooledRuns(stateDir)).toContain('run-down');
    await s3.resume();
    await uploadRun(config(), journal);
    expect(spooledRuns(stateDir)).not.toContain('run-down');
    expect(await s3.keys(`ci/${hostname()}/run-down`)).toContain(`ci/${hostname()}/run-down/journal.json`);
  });

  it('refuses a credentials file others can read, and a file holding the secret', async () => {
    chmodSync(credentials, 0o644);
    await expect(uploadRun(config(), fakeRun('run-exposed'))).rejects.toMatchObject({ code: 'CREDENTIALS_EXPOSED', hint: expect.stringContaining('chmod 600') });
    chmodSync(credentials, 0o600);
    const leaky = fakeRun('run-leaky');
    writeFileSync(join(leaky.paths.logs, 'oops.log'), `key=${'A'.repeat(4)} secret=S3RVER-LONG-SECRET\n`);
    writeFileSync(credentials, GUEST_CREDENTIALS.replace(/aws_secret_access_key = .*/, 'aws_secret_access_key = S3RVER-LONG-SECRET'), { mode: 0o600 });
    await expect(uploadRun(config(), leaky)).rejects.toMatchObject({ message: expect.stringContaining('contains a credential') });
    expect(existsSync(join(stateDir, 'spool', 'run-leaky'))).toBe(true);
    writeFileSync(credentials, GUEST_CREDENTIALS, { mode: 0o600 });
  });
});
