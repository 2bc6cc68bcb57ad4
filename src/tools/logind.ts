/**
 * logind's record of a login session: whose it is, which PAM service opened it
 * (`sshd` for an ssh login, through pam_systemd), which process leads it and the
 * scope its processes live in. Read from the file logind keeps for each session
 * in /run/systemd/sessions: root's, written by logind alone, the data libsystemd's
 * sd-login reads and `loginctl show-session` shows as Id, User, Name, Service,
 * Leader and Scope. Read through a ProcSource rather than from loginctl because
 * discovery reads synchronously, and `plan --record` keeps what it read for the
 * tests to replay.
 */
import type { ProcSource } from './procfs.js';

export const LOGIND_SESSIONS = '/run/systemd/sessions';

export interface LoginRecord {
  id: string;
  uid: number;
  /** The user's name as logind resolved it (NSS: a directory user too). */
  user: string;
  service: string;
  leader: number;
  /** The scope unit's name, `session-3.scope`. */
  scope: string;
}

/** Session `id`'s record; undefined when logind keeps none, or one without a user or a leader. */
export function loginRecord(proc: ProcSource, id: string): LoginRecord | undefined {
  // logind's session ids are letters and digits (a scope's name is no path to follow).
  if (!/^[A-Za-z0-9]+$/.test(id)) return undefined;
  const text = proc.readText(`${LOGIND_SESSIONS}/${id}`);
  if (text === undefined) return undefined;
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^([A-Z_]+)=(.*)$/.exec(line);
    if (match?.[1] && match[2] !== undefined) fields.set(match[1], unquote(match[2]));
  }
  const uid = Number(fields.get('UID'));
  const leader = Number(fields.get('LEADER'));
  if (!Number.isInteger(uid) || uid < 0 || !Number.isInteger(leader) || leader <= 0)
    return undefined;
  return {
    id,
    uid,
    user: fields.get('USER') ?? `uid ${uid}`,
    service: fields.get('SERVICE') ?? '',
    leader,
    scope: fields.get('SCOPE') ?? '',
  };
}

/** systemd quotes a value with a space or a quote in it (env_file_fputs_assignment), escaping with backslashes. */
function unquote(value: string): string {
  const quoted = /^"(.*)"$/.exec(value)?.[1];
  return quoted === undefined ? value : quoted.replace(/\\(.)/g, '$1');
}
