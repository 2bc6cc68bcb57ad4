import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { PlanRecording } from '../../../src/steps/planning.js';
import { sessionRootOf } from '../../../src/steps/discover.js';
import { collectFacts } from '../../../src/steps/plan-facts.js';
import { plan } from '../../../src/steps/plan.js';
import { parseSsUnixPeers } from '../../../src/tools/proc-net.js';
import { snapshotProc } from '../../../src/tools/procfs.js';

/**
 * A real /proc, not a model of one: recorded in the test guest (Debian 12,
 * kernel 6.1.0-55, systemd-logind) with `kernel-leap plan --record` typed in an
 * ssh session with a pty that also ran `sleep 1000 &`, with what discover read
 * walking up from kernel-leap's own process.
 */
const recording = JSON.parse(readFileSync(new URL('../../fixtures/proc/ssh-session.json', import.meta.url), 'utf8')) as PlanRecording;
const recorded = () => plan(collectFacts(snapshotProc(recording.proc), recording.rootPid, parseSsUnixPeers(recording.ssUnix), new Set(recording.exclude)));

describe('plan on a recorded guest session', () => {
  it('walks up from kernel-leap itself to the per-connection sshd', () => {
    expect(sessionRootOf(snapshotProc(recording.proc), recording.selfPid as number)).toEqual({ pid: 437, name: 'sshd', cmdline: 'sshd: root@pts/0' });
  });

  it('finds the ssh connection, the pty and the logind FIFO, and says go', () => {
    const p = recorded();
    expect(p.verdict).toBe('go');
    expect(p.rootPid).toBe(437);
    expect(p.pids).toEqual([437, 443, 444, 445]);
    expect(p.connections).toEqual([expect.objectContaining({ pid: 437, local: { ip: '10.0.2.15', port: 22 }, peer: { ip: '10.0.2.2', port: 40168 }, family: 'ipv4' })]);
    expect(p.ptys).toEqual([0]);
    expect(p.fifos).toEqual([expect.objectContaining({ pid: 437, path: '/run/systemd/sessions/8.ref', key: 'file[96:2aa]', mode: 0o600 })]);
    expect(p.externals).toEqual(['file[96:2aa]']);
    expect(p.unixExternals).toEqual([]);
    expect(p.ghosts).toEqual([]);
    expect(p.ownPidNamespace).toBeUndefined();
    expect(p.risks.filter((r) => r.level !== 'ok')).toEqual([]);
  });
});
