import { describe, expect, it } from 'vitest';

import { criuAbilities, criuLabel } from '../../../src/tools/criu-features.js';

describe('what a CRIU version can and cannot do', () => {
  it('3.17.1 (Debian 12): no pidfds, no --skip-file-rwx-check, an nftables lock that stays after a restore in a new pidns', () => {
    const a = criuAbilities('3.17.1');
    expect(a.has('pidfd')).toBe(false);
    expect(a.has('skipFileRwxCheck')).toBe(false);
    expect(a.has('nftablesUnlockInNewPidns')).toBe(false);
    expect(a.anonInodes.has('[pidfd]')).toBe(false);
    expect(a.anonInodes.has('[eventpoll]')).toBe(true);
    expect(a.can).toEqual([]);
    expect(a.cannotByVersion).toEqual([
      'cannot dump pidfds (anon_inode:[pidfd]) (CRIU 4.1 can)',
      'leaves its nftables lock in place after a restore in a new pid namespace (the table is named by the restore-time pid) (CRIU 4.1 can)',
      'has no --skip-file-rwx-check (kernel-leap chmods a deleted exe instead) (CRIU 3.18 can)',
    ]);
    expect(a.networkLock.method).toBe('iptables');
    expect(a.networkLock.why).toContain('its nftables lock would stay');
  });

  it('3.18 adds --skip-file-rwx-check only', () => {
    const a = criuAbilities('3.18');
    expect(a.can).toEqual(['has --skip-file-rwx-check']);
    expect(a.summary).toBe(
      'has --skip-file-rwx-check; lacks pidfd dump (4.1), nftables unlock in a new pid namespace (4.1)',
    );
    expect(a.has('pidfd')).toBe(false);
  });

  it('4.1.1 (Debian 13): pidfds and an nftables lock that unlocks; still no io_uring or nested pid namespaces', () => {
    const a = criuAbilities('4.1.1');
    expect(a.has('pidfd')).toBe(true);
    expect(a.has('nftablesUnlockInNewPidns')).toBe(true);
    expect(a.anonInodes.has('[pidfd]')).toBe(true);
    expect(a.anonInodes.has('[io_uring]')).toBe(false);
    expect(a.cannotByVersion).toEqual([]);
    expect(a.cannot.join('\n')).toMatch(/io_uring[\s\S]*nested pid/);
    expect(a.networkLock.method).toBe('iptables');
    expect(criuLabel(a)).toBe('CRIU 4.1.1');
  });

  it('an unknown version gets the facts of the oldest supported one, and says so', () => {
    const a = criuAbilities(undefined);
    expect(a.assumed).toBe('3.17');
    expect(a.has('pidfd')).toBe(false);
    expect(criuLabel(a)).toBe('CRIU (version unknown, facts of 3.17)');
  });
});
