import { describe, expect, it } from 'vitest';

import { accountName } from '../../../src/tools/accounts.js';
import { loginRecord } from '../../../src/tools/logind.js';
import { snapshotProc } from '../../../src/tools/procfs.js';
import { PASSWD } from '../../helpers/proc-fixture.js';

/** A session record as systemd 257 writes it: USER and SERVICE through env_file_fputs_assignment, quoted when they need it. */
const RECORD = `# This is private data. Do not parse.
UID=1000
ACTIVE=1
IS_DISPLAY=0
STATE=active
REMOTE=1
LEADER_FD_SAVED=1
USER="a\\"lice"
TYPE=tty
CLASS=user
SCOPE=session-12.scope
SERVICE=sshd
LEADER=1403
LEADER_PIDFDID=2871
`;

describe("logind's session record", () => {
  const proc = snapshotProc({
    texts: {
      '/run/systemd/sessions/12': RECORD,
      '/run/systemd/sessions/13': 'UID=0\nUSER=root\nSERVICE=sshd\n',
      '/etc/passwd': PASSWD,
    },
    links: {},
    dirs: {},
    stats: {},
  });

  it('reads who, which service, which leader and which scope', () => {
    expect(loginRecord(proc, '12')).toEqual({
      id: '12',
      uid: 1000,
      user: 'a"lice',
      service: 'sshd',
      leader: 1403,
      scope: 'session-12.scope',
    });
  });

  it('has none for a session without a leader, and reads no path that is not a session id', () => {
    expect(loginRecord(proc, '13')).toBeUndefined();
    expect(loginRecord(proc, '14')).toBeUndefined();
    expect(loginRecord(proc, '12.ref')).toBeUndefined();
    expect(loginRecord(proc, '../sessions/12')).toBeUndefined();
  });

  it('names a uid from /etc/passwd, or as `uid N` when it names none', () => {
    expect(accountName(proc, 65534)).toBe('nobody');
    expect(accountName(proc, 0)).toBe('root');
    expect(accountName(proc, 4242)).toBe('uid 4242');
    expect(accountName(proc, undefined)).toBe('uid ?');
  });
});
