import { describe, expect, it } from 'vitest';

import { loadConfig } from '../../../../src/config/load.js';
import { ghostLimit, noGoReasons, plan } from '../../../../src/steps/plan/classify.js';
import { collectFacts } from '../../../../src/steps/plan/facts.js';
import { bindPlan } from '../../../../src/steps/plan/session-plan.js';
import { parseSsUnixPeers } from '../../../../src/tools/proc-net.js';
import { snapshotProc } from '../../../../src/tools/procfs.js';
import {
  type FakeTask,
  restoredSshSession,
  snapshot,
  sshSession,
  TCP_TABLE,
  UNIX_TABLE,
} from '../../../helpers/proc-fixture.js';

// ss -xn in the guest: 14350's peer had closed (0); 20001 talks to dbus (20002), outside the tree.
const SS = `Netid State Recv-Q Send-Q Local Address:Port Peer Address:Port Process
u_str ESTAB 0 0 * 14350 * 0
u_dgr ESTAB 0 0 * 14369 * 2697
u_str ESTAB 0 0 * 20001 * 20002
u_str ESTAB 0 0 /run/dbus/system_bus_socket 20002 * 20001
`;

const planOf = (snapshot = sshSession(), exclude = new Set<number>(), criuVersion?: string) =>
  plan(collectFacts(snapshotProc(snapshot), 441, parseSsUnixPeers(SS), exclude, criuVersion));

describe('plan on a recorded-shape ssh session', () => {
  it('names the TCP 4-tuple, the pty, and the logind FIFO as file[MNT:INO] in lowercase hex', () => {
    const p = planOf();
    expect(p.verdict).toBe('go');
    expect(p.pids).toEqual([441, 447, 534]);
    expect(p.connections).toEqual([
      expect.objectContaining({
        pid: 441,
        fd: 4,
        local: { ip: '10.0.2.15', port: 22 },
        peer: { ip: '10.0.2.2', port: 50124 },
      }),
    ]);
    expect(p.ptys).toEqual([0]);
    expect(p.fifos).toEqual([
      {
        pid: 441,
        fd: 8,
        path: '/run/systemd/sessions/5.ref',
        key: 'file[95:28c]',
        mode: 0o600,
        uid: 0,
        gid: 0,
      },
    ]);
    expect(p.externals).toEqual(['file[95:28c]']);
    expect(p.unixExternals).toEqual([]);
    expect(p.ghostLimitBytes).toBeUndefined();
  });

  it('names a TCP connection once, however many processes inherited its socket', () => {
    const child = {
      pid: 600,
      ppid: 447,
      name: 'nc',
      cmdline: 'nc 10.0.2.2 50124',
      exe: '/usr/bin/nc',
      fds: { 3: { target: 'socket:[12784]' } },
    };
    const p = planOf(sshSession({ extraTasks: [child] }));
    expect(p.connections).toHaveLength(1);
    expect(p.risks.filter((r) => r.code === 'TCP')).toHaveLength(1);
  });

  it('declares a unix stream to a peer outside the tree as unix[INO], degraded', () => {
    const p = planOf(
      sshSession({
        session: { fds: { 4: { target: 'socket:[12784]' }, 7: { target: 'socket:[20001]' } } },
      }),
    );
    expect(p.unixExternals).toEqual([
      { pid: 441, fd: 7, inode: 20001, peerInode: 20002, peerPath: '/run/dbus/system_bus_socket' },
    ]);
    expect(p.externals).toContain('unix[20001]');
    expect(p.risks).toContainEqual(
      expect.objectContaining({ level: 'warn', code: 'UNIX_EXTERNAL' }),
    );
  });

  it('after a package upgrade: ghosts the deleted sshd, sizes the ghost limit, and fixes a missing exec bit', () => {
    const p = planOf(
      sshSession({
        session: {
          exe: '/usr/sbin/sshd (deleted)',
          exeStat: { mode: 0o100600, size: 1265432, nlink: 0 },
        },
      }),
    );
    expect(p.ghosts).toContainEqual(
      expect.objectContaining({ path: '/usr/sbin/sshd', kind: 'exe', size: 1265432 }),
    );
    expect(p.ghostLimitBytes).toBe(3 * 1024 * 1024);
    expect(p.execBitFixes).toEqual([{ pid: 441, exe: '/usr/sbin/sshd (deleted)' }]);
    expect(p.verdict).toBe('go');
  });

  it('says no-go with the reason for io_uring and nested pid/uts namespaces, but not a nested netns', () => {
    const node: FakeTask = {
      pid: 600,
      ppid: 447,
      name: 'node',
      cmdline: 'node app.js',
      fds: { 4: { target: 'anon_inode:[io_uring]' } },
    };
    const uts: FakeTask = {
      pid: 601,
      ppid: 447,
      name: 'sleep',
      cmdline: 'sleep 600',
      ns: { uts: 'uts:[4026532200]' },
    };
    const net: FakeTask = {
      pid: 602,
      ppid: 447,
      name: 'sleep',
      cmdline: 'sleep 600',
      ns: { net: 'net:[4026532300]' },
    };
    const p = planOf(sshSession({ extraTasks: [node, uts, net] }), new Set(), '3.17.1');
    expect(p.verdict).toBe('no-go');
    const failures = p.risks.filter((r) => r.level === 'fail').map((r) => r.message);
    expect(failures).toEqual([
      'node (600) fd 4 is anon_inode:[io_uring], which CRIU 3.17.1 cannot dump',
      `sleep (601) runs in its own uts namespace (uts:[4026532200]); CRIU 3.17.1 fails with "Can't dump nested uts namespace"`,
    ]);
    // auto's record quotes them on one line, each with its tree; a plan that goes adds nothing.
    expect(noGoReasons([p, planOf()])).toBe(
      p.risks
        .filter((r) => r.level === 'fail')
        .map((r) => `tree 441: ${r.code} ${r.message}`)
        .join('; '),
    );
    expect(noGoReasons([p])).toContain(`tree 441: NESTED_NAMESPACE ${failures[1]}`);
  });

  it('states the CRIU it planned for, and takes a pidfd only from a CRIU that dumps them (4.1 on)', () => {
    const pidfd: FakeTask = {
      pid: 600,
      ppid: 447,
      name: 'waiter',
      cmdline: 'waiter',
      fds: { 5: { target: 'anon_inode:[pidfd]' } },
    };
    const old = planOf(sshSession({ extraTasks: [pidfd] }), new Set(), '3.17.1');
    expect(old.verdict).toBe('no-go');
    expect(old.risks).toContainEqual(
      expect.objectContaining({
        level: 'fail',
        code: 'UNSUPPORTED_FD',
        message: 'waiter (600) fd 5 is anon_inode:[pidfd], which CRIU 3.17.1 cannot dump',
      }),
    );
    expect(old.risks[0]).toMatchObject({ level: 'ok', code: 'CRIU' });
    expect(old.risks[0]?.message).toBe(
      'CRIU 3.17.1: lacks pidfd dump (4.1), nftables unlock in a new pid namespace (4.1), --skip-file-rwx-check (3.18)',
    );
    const trixie = planOf(sshSession({ extraTasks: [pidfd] }), new Set(), '4.1.1');
    expect(trixie.verdict).toBe('go');
    expect(trixie.criu.version).toBe('4.1.1');
    expect(trixie.risks[0]?.message).toBe(
      'CRIU 4.1.1: has pidfd dump, nftables unlock in a new pid namespace, --skip-file-rwx-check',
    );
  });

  it('without a CRIU version, plans with the facts of the oldest supported CRIU and says so', () => {
    const p = planOf(
      sshSession({
        extraTasks: [
          {
            pid: 600,
            ppid: 447,
            name: 'node',
            cmdline: 'node',
            fds: { 4: { target: 'anon_inode:[io_uring]' } },
          },
        ],
      }),
    );
    expect(p.risks).toContainEqual(
      expect.objectContaining({
        code: 'UNSUPPORTED_FD',
        message:
          'node (600) fd 4 is anon_inode:[io_uring], which CRIU (version unknown, facts of 3.17) cannot dump',
      }),
    );
  });

  it('names the network stack in a NETWORK row after the connections, and none when it was not asked', () => {
    const facts = collectFacts(snapshotProc(sshSession()), 441, parseSsUnixPeers(SS));
    const p = plan({
      ...facts,
      networkStacks: [{ name: 'systemd-networkd', interfaces: ['eth0'] }],
    });
    expect(p.networkStacks).toEqual([{ name: 'systemd-networkd', interfaces: ['eth0'] }]);
    const codes = p.risks.map((r) => r.code);
    expect(codes.indexOf('NETWORK')).toBe(codes.lastIndexOf('TCP') + 1);
    expect(p.risks.find((r) => r.code === 'NETWORK')?.message).toMatch(
      /^systemd-networkd brings up eth0: /,
    );
    expect(
      plan({ ...facts, networkStacks: [] }).risks.find((r) => r.code === 'NETWORK')?.level,
    ).toBe('warn');
    expect(planOf().risks.some((r) => r.code === 'NETWORK')).toBe(false);
  });

  it("leaves kernel-leap's own process out: it hands off before the dump", () => {
    const node: FakeTask = {
      pid: 600,
      ppid: 447,
      name: 'node',
      cmdline: 'node kernel-leap.mjs plan',
      fds: { 4: { target: 'anon_inode:[io_uring]' } },
    };
    expect(planOf(sshSession({ extraTasks: [node] }), new Set([600])).verdict).toBe('go');
  });

  it('dumps a session kernel-leap restored from inside its pid namespace, by its pid there, and leaves it stopped', () => {
    const p = bindPlan(
      plan(collectFacts(snapshotProc(restoredSshSession()), 902, parseSsUnixPeers(SS))),
      loadConfig({ env: {}, file: undefined }).config,
    );
    expect(p.verdict).toBe('go');
    expect(p.ownPidNamespace).toEqual({ initPid: 901, rootNsPid: 441 });
    expect(p.risks).toContainEqual(
      expect.objectContaining({ level: 'ok', code: 'OWN_PID_NAMESPACE' }),
    );
    const dump = p.dumpArgs('/i', '/l');
    expect(dump.slice(dump.indexOf('-t'), dump.indexOf('-t') + 2)).toEqual(['-t', '441']);
    expect(dump).toContain('--leave-stopped');
    expect(p.dumpArgs('/i', '/l', { leaveRunning: true })).not.toContain('--leave-stopped');
    expect(planOf().ownPidNamespace).toBeUndefined();
  });

  it('sees the same layout from inside the namespace (pid 1 is criu), but not under a restarted listener (pid 1 is systemd)', () => {
    const inside = (init: string) =>
      snapshot(
        [
          { pid: 1, ppid: 0, name: init, cmdline: init },
          {
            pid: 441,
            ppid: 1,
            name: 'sshd',
            cmdline: 'sshd: root@pts/0',
            fds: { 9: { target: '/dev/ptmx', ttyIndex: 0 } },
          },
          { pid: 447, ppid: 441, name: 'bash', cmdline: 'bash' },
        ],
        {
          texts: {
            '/proc/441/net/tcp': TCP_TABLE,
            '/proc/441/net/unix': UNIX_TABLE,
            '/proc/locks': '',
          },
        },
      );
    expect(planOf(inside('criu')).ownPidNamespace).toEqual({ initPid: 1, rootNsPid: 441 });
    expect(planOf(inside('systemd')).ownPidNamespace).toBeUndefined();
  });

  it('says no-go for TCP over native IPv6, whose lock rules are not reloaded at boot', () => {
    const tcp6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 000080FE00000000FF005452120000FE:0016 000080FE00000000FF005452020000FE:C3CC 01 00000000:00000000 00:00000000 00000000     0        0 12784 1 0000000000000000 20 4 30 10 -1
`;
    const snapshot = sshSession();
    snapshot.texts['/proc/441/net/tcp'] = '  sl  local_address rem_address   st\n';
    snapshot.texts['/proc/441/net/tcp6'] = tcp6;
    const p = planOf(snapshot);
    expect(p.verdict).toBe('no-go');
    expect(p.connections).toEqual([]);
    expect(p.risks).toContainEqual(
      expect.objectContaining({
        level: 'fail',
        code: 'TCP_IPV6',
        hint: expect.stringContaining('ssh -4'),
      }),
    );
  });

  it('refuses a regular file from another mount namespace', () => {
    const p = planOf(
      sshSession({
        session: {
          fds: {
            4: { target: 'socket:[12784]' },
            8: { target: '/srv/data.db', mntId: 300, stat: { ino: 9, mode: 0o100644 } },
          },
        },
      }),
    );
    expect(p.risks).toContainEqual(
      expect.objectContaining({ level: 'fail', code: 'FOREIGN_FILE' }),
    );
  });

  it('sizes the ghost limit to the largest deleted file plus a spare MiB', () => {
    expect(
      ghostLimit([{ pid: 1, path: '/a', size: 900_000, mode: 0, kind: 'fd' }]),
    ).toBeUndefined();
    expect(
      ghostLimit([{ pid: 1, path: '/a', size: 5 * 1024 * 1024 + 1, mode: 0, kind: 'map' }]),
    ).toBe(7 * 1024 * 1024);
  });
});
