/**
 * Upload a run's logs, journal, report and this boot's dmesg to S3 under
 * <prefix>/<hostname>/<run id>/. While the store is unreachable the run stays in
 * a local spool (<state>/spool/<run id>) that `upload-logs` ships later. A file
 * that contains a credential is never uploaded.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, relative } from 'node:path';

import type { Config } from '../../config/schema.js';
import { LeapError } from '../../errors.js';
import type { Journal } from '../../state/journal.js';
import { secretsOf } from '../../tools/credentials.js';
import { openS3, putObject, type S3ClientOptions } from '../../tools/s3.js';

export interface UploadOutput {
  bucket?: string;
  prefix?: string;
  keys: string[];
  skipped?: string;
}

const RUN_FILES = ['journal.json', 'report.json', 'restore.json'];

export function spoolDir(stateDir: string): string {
  return join(stateDir, 'spool');
}

export function spooledRuns(stateDir: string): string[] {
  const dir = spoolDir(stateDir);
  return existsSync(dir) ? readdirSync(dir) : [];
}

function spool(stateDir: string, runId: string, reason: string): void {
  mkdirSync(spoolDir(stateDir), { recursive: true, mode: 0o700 });
  writeFileSync(join(spoolDir(stateDir), runId), `${reason}\n`, { mode: 0o600 });
}

/** The files shipped for a run, as paths relative to its dir. */
export function runFiles(journal: Journal): string[] {
  const logs = existsSync(journal.paths.logs)
    ? readdirSync(journal.paths.logs).map((f) => join('logs', f))
    : [];
  return [...RUN_FILES.filter((f) => existsSync(join(journal.paths.dir, f))), ...logs];
}

/** Where a run's files go in the bucket: `<prefix>/<hostname>/<run id>`. */
export function s3Prefix(s3: Config['s3'], runId: string): string {
  return `${s3.prefix}/${hostname()}/${runId}`;
}

/** `client` tunes the S3 client's retries and timeouts (tests make them short); the defaults suit a real store. */
export async function uploadRun(
  config: Config,
  journal: Journal,
  client: Partial<S3ClientOptions> = {},
): Promise<UploadOutput> {
  const stateDir = config.paths.state_dir;
  // A store it cannot open (no region, no credentials) is fixed later: spool the run for upload-logs.
  const target = await openS3(config.s3, client).catch((error: unknown) => {
    spool(stateDir, journal.runId, error instanceof Error ? error.message : String(error));
    throw error;
  });
  if (!target) return { keys: [], skipped: 'uploads are off: [s3] bucket is unset' };
  const prefix = s3Prefix(config.s3, journal.runId);
  const secrets = secretsOf(target.credentials);
  const keys: string[] = [];
  spool(stateDir, journal.runId, 'upload in progress');
  try {
    for (const file of runFiles(journal)) {
      const body = readFileSync(join(journal.paths.dir, file));
      refuseSecrets(body, secrets, file);
      const key = `${prefix}/${relative('.', file)}`;
      await putObject(
        target,
        key,
        body,
        file.endsWith('.json') ? 'application/json' : 'text/plain',
      );
      keys.push(key);
    }
  } catch (error) {
    spool(stateDir, journal.runId, error instanceof Error ? error.message : String(error));
    throw new LeapError(
      'UPLOAD_FAILED',
      `upload of run ${journal.runId} to s3://${target.bucket}/${prefix} failed: ${error instanceof Error ? error.message : String(error)}`,
      {
        hint: 'the run stays spooled; `kernel-leap upload-logs` ships it once the store is reachable',
        cause: error,
      },
    );
  }
  rmSync(join(spoolDir(stateDir), journal.runId), { force: true });
  return { bucket: target.bucket, prefix, keys };
}

function refuseSecrets(body: Buffer, secrets: readonly string[], file: string): void {
  const text = body.toString('utf8');
  if (secrets.some((s) => text.includes(s))) {
    throw new LeapError('SECRET_IN_LOG', `${file} contains a credential; it was not uploaded`, {
      hint: 'remove the credential from the command or config that logged it',
    });
  }
}
