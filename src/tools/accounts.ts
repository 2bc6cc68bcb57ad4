/**
 * A uid's login name, for the lists root reads: from /etc/passwd, through a
 * ProcSource so that the tests' machines carry their own. A uid it does not name
 * (a directory user) is shown as `uid N`.
 */
import type { ProcSource } from './procfs.js';

export const PASSWD = '/etc/passwd';

export function accountName(proc: ProcSource, uid: number | undefined): string {
  if (uid === undefined) return 'uid ?';
  const line = (proc.readText(PASSWD) ?? '')
    .split('\n')
    .find((l) => l.split(':')[2] === String(uid));
  return line?.split(':')[0] || `uid ${uid}`;
}
