import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { plan } from '../../../../src/steps/plan/classify.js';
import { sessionRootOf } from '../../../../src/steps/plan/discover.js';
import { collectFacts } from '../../../../src/steps/plan/facts.js';
import type { PlanRecording } from '../../../../src/steps/plan/session-plan.js';
import { parseSsUnixPeers } from '../../../../src/tools/proc-net.js';
import { type ProcSnapshot, snapshotProc } from '../../../../src/tools/procfs.js';
import { addLoginSession } from '../../../helpers/proc-fixture.js';

/**
 * What discover asks the kernel and logind since issue 27, which these
 * recordings predate: the listener's binary, and logind's record of the session
 * whose id the recorded FIFO names (`/run/systemd/sessions/ID.ref`), led by the
 * process that opened it (the outermost that holds it), with the recorded tree
 * in its scope. Added here as the recordings' own facts say; `plan --record`
 * now records them.
 */
function withLogind(
  proc: ProcSnapshot,
  session: { id: string; leader: number; members: number[]; listener: number },
): ProcSnapshot {
  const copy = structuredClone(proc);
  copy.links[`/proc/${session.listener}/exe`] = '/usr/sbin/sshd';
  addLoginSession(copy, { ...session, uid: 0, user: 'root' });
  return copy;
}

/**
 * A real /proc, not a model of one: recorded in the test guest (Debian 12,
 * kernel 6.1.0-55, systemd-logind) with `kernel-leap plan --record` typed in an
 * ssh session with a pty that also ran `sleep 1000 &`, with what discover read
 * walking up from kernel-leap's own process.
 */
const recording = JSON.parse(
  readFileSync(new URL('../../../fixtures/proc/ssh-session.json', import.meta.url), 'utf8'),
) as PlanRecording;
const recorded = () =>
  plan(
    collectFacts(
      snapshotProc(recording.proc),
      recording.rootPid,
      parseSsUnixPeers(recording.ssUnix),
      new Set(recording.exclude),
    ),
  );

describe('plan on a recorded guest session', () => {
  it('walks up from kernel-leap itself to the per-connection sshd', () => {
    const proc = withLogind(recording.proc, {
      id: '8',
      leader: 437,
      members: [437, 443, 444, 445, 447],
      listener: 382,
    });
    expect(sessionRootOf(snapshotProc(proc), recording.selfPid as number)).toEqual({
      pid: 437,
      name: 'sshd',
      cmdline: 'sshd: root@pts/0',
    });
  });

  it('finds the ssh connection, the pty and the logind FIFO, and says go', () => {
    const p = recorded();
    expect(p.verdict).toBe('go');
    expect(p.rootPid).toBe(437);
    expect(p.pids).toEqual([437, 443, 444, 445]);
    expect(p.connections).toEqual([
      expect.objectContaining({
        pid: 437,
        local: { ip: '10.0.2.15', port: 22 },
        peer: { ip: '10.0.2.2', port: 40168 },
        family: 'ipv4',
      }),
    ]);
    expect(p.ptys).toEqual([0]);
    expect(p.fifos).toEqual([
      expect.objectContaining({
        pid: 437,
        path: '/run/systemd/sessions/8.ref',
        key: 'file[96:2aa]',
        mode: 0o600,
      }),
    ]);
    expect(p.externals).toEqual(['file[96:2aa]']);
    expect(p.unixExternals).toEqual([]);
    expect(p.ghosts).toEqual([]);
    expect(p.ownPidNamespace).toBeUndefined();
    expect(p.risks.filter((r) => r.level !== 'ok')).toEqual([]);
  });
});

/**
 * The same, recorded in the Debian 13 bed (kernel 6.12.107, OpenSSH 10.0, CRIU
 * 4.1.1): `kernel-leap plan --record` typed in a root ssh session with a pty
 * that also ran `sleep 1000 &`. OpenSSH 10 names the processes `sshd-session:`,
 * and a root login has a `[priv]` monitor too; both hold logind's FIFO.
 */
const trixie = JSON.parse(
  readFileSync(new URL('../../../fixtures/proc/trixie-ssh-session.json', import.meta.url), 'utf8'),
) as PlanRecording;
const trixiePlan = () =>
  plan(
    collectFacts(
      snapshotProc(trixie.proc),
      trixie.rootPid,
      parseSsUnixPeers(trixie.ssUnix),
      new Set(trixie.exclude),
      trixie.criuVersion,
    ),
  );

describe('plan on a recorded Debian 13 guest session', () => {
  it('walks up from kernel-leap itself to the topmost sshd-session process, the [priv] monitor', () => {
    const proc = withLogind(trixie.proc, {
      id: '20',
      leader: 1403,
      members: [1403, 1416, 1417, 1431, 1432, 1435],
      listener: 497,
    });
    expect(sessionRootOf(snapshotProc(proc), trixie.selfPid as number)).toEqual({
      pid: 1403,
      name: 'sshd-session',
      cmdline: 'sshd-session: root [priv]',
    });
  });

  it('plans for CRIU 4.1.1, with one external for the FIFO both sshd-session processes hold, and says go', () => {
    const p = trixiePlan();
    expect(p.verdict).toBe('go');
    expect(p.criu.version).toBe('4.1.1');
    expect(p.risks[0]).toMatchObject({
      level: 'ok',
      code: 'CRIU',
      message: expect.stringMatching(/^CRIU 4\.1\.1: /),
    });
    expect(p.pids).toEqual([1403, 1416, 1417, 1431, 1432]);
    expect(p.connections).toEqual([
      expect.objectContaining({
        pid: 1403,
        local: { ip: '10.0.2.15', port: 22 },
        peer: { ip: '10.0.2.2', port: 37598 },
        family: 'ipv4',
      }),
    ]);
    expect(p.ptys).toEqual([1]);
    expect(p.fifos).toEqual([
      expect.objectContaining({
        path: '/run/systemd/sessions/20.ref',
        key: 'file[7e:4d0]',
        mode: 0o600,
      }),
    ]);
    expect(p.externals).toEqual(['file[7e:4d0]']);
    expect(p.risks.filter((r) => r.code === 'FIFO')).toHaveLength(1);
    expect(p.risks.filter((r) => r.level !== 'ok')).toEqual([]);
  });
});
