import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { PlanRecording } from '../../../src/engine/planning.js';
import { collectFacts } from '../../../src/phases/plan-facts.js';
import { plan } from '../../../src/phases/plan.js';
import { parseSsUnixPeers } from '../../../src/tools/proc-net.js';
import { snapshotProc } from '../../../src/tools/procfs.js';

/**
 * A real /proc, not a model of one: recorded in the test guest (Debian 12,
 * kernel 6.1.0-55, systemd-logind) with `kernel-leap plan --record` typed in an
 * ssh session with a pty that also ran `sleep 1000 &`.
 */
const recording = JSON.parse(readFileSync(new URL('../../fixtures/proc/ssh-session.json', import.meta.url), 'utf8')) as PlanRecording;
const recorded = () => plan(collectFacts(snapshotProc(recording.proc), recording.rootPid, parseSsUnixPeers(recording.ssUnix), new Set(recording.exclude)));

describe('plan on a recorded guest session', () => {
  it('finds the ssh connection, the pty and the logind FIFO, and says go', () => {
    const p = recorded();
    expect(p.verdict).toBe('go');
    expect(p.rootPid).toBe(442);
    expect(p.pids).toEqual([442, 448, 449, 450]);
    expect(p.connections).toEqual([expect.objectContaining({ pid: 442, local: { ip: '10.0.2.15', port: 22 }, peer: { ip: '10.0.2.2', port: 53726 }, family: 'ipv4' })]);
    expect(p.ptys).toEqual([0]);
    expect(p.fifos).toEqual([expect.objectContaining({ pid: 442, path: '/run/systemd/sessions/8.ref', key: 'file[96:2b0]', mode: 0o600 })]);
    expect(p.externals).toEqual(['file[96:2b0]']);
    expect(p.unixExternals).toEqual([]);
    expect(p.ghosts).toEqual([]);
    expect(p.ownPidNamespace).toBeUndefined();
    expect(p.risks.filter((r) => r.level !== 'ok')).toEqual([]);
  });
});
