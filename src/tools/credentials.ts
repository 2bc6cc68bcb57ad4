/**
 * S3 credentials come only from root-readable places: the credentials file named
 * in the config (mode 0600, owned by root), or the AWS SDK's default chain. They
 * are returned so the runner and the uploader can mask and refuse them.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { userInfo } from 'node:os';

import { parse } from 'ini';

import { ExitCode, LeapError } from '../errors.js';

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export function readCredentialsFile(path: string | undefined): S3Credentials | undefined {
  if (!path || !existsSync(path)) return undefined;
  const stat = statSync(path);
  if ((stat.mode & 0o077) !== 0 || (process.getuid?.() === 0 && stat.uid !== 0)) {
    throw new LeapError(
      'CREDENTIALS_EXPOSED',
      `${path} is readable by others (mode ${(stat.mode & 0o777).toString(8)}, owner ${stat.uid})`,
      {
        hint: `chown root: ${path} && chmod 600 ${path}`,
        exit: ExitCode.config,
      },
    );
  }
  const parsed = parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  const section = (typeof parsed.default === 'object' ? parsed.default : parsed) as Record<
    string,
    string | undefined
  >;
  const accessKeyId = section.aws_access_key_id;
  const secretAccessKey = section.aws_secret_access_key;
  if (!accessKeyId || !secretAccessKey) {
    throw new LeapError(
      'CREDENTIALS_INVALID',
      `${path} lacks aws_access_key_id or aws_secret_access_key`,
      { hint: 'write both keys, INI style', exit: ExitCode.config },
    );
  }
  return {
    accessKeyId,
    secretAccessKey,
    ...(section.aws_session_token ? { sessionToken: section.aws_session_token } : {}),
  };
}

/** A boot unit has no HOME; the SDK's chain needs it to find root's ~/.aws/credentials. */
export function ensureHome(): void {
  process.env.HOME ??= userInfo().homedir;
}

export function secretsOf(credentials: S3Credentials | undefined): string[] {
  if (!credentials) return [];
  return [
    credentials.secretAccessKey,
    credentials.sessionToken ?? '',
    credentials.accessKeyId,
  ].filter((s) => s.length >= 8);
}
