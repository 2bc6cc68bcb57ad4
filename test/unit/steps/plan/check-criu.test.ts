import { describe, expect, it } from 'vitest';

import { criuFindings } from '../../../../src/steps/plan/check.js';
import type { ToolVersion } from '../../../../src/tools/versions.js';

const tools = (criu: string, iptables: string): ToolVersion[] => [
  { tool: 'criu', installed: true, version: criu },
  { tool: 'iptables-save', installed: true, version: iptables },
];

describe('check states the CRIU found and what it can do', () => {
  it('Debian 13: CRIU 4.1.1 with iptables on nf_tables', () => {
    const byItem = new Map(
      criuFindings(tools('4.1.1', '1.8.11 (nf_tables)')).map((f) => [f.item, f.detail]),
    );
    expect(byItem.get('criu can')).toBe(
      'CRIU 4.1.1 dumps pidfds; unlocks its nftables lock after a restore in a new pid namespace; has --skip-file-rwx-check',
    );
    expect(byItem.get('criu cannot')).toMatch(/^cannot dump io_uring fds/);
    expect(byItem.get('network lock')).toMatch(
      /^iptables \(nf_tables backend\): iptables rules, saved after the dump/,
    );
  });

  it('Debian 12: CRIU 3.17.1 can none of the later features, and says what each needs', () => {
    const byItem = new Map(
      criuFindings(tools('3.17.1', '1.8.9 (nf_tables)')).map((f) => [f.item, f.detail]),
    );
    expect(byItem.get('criu can')).toBe('CRIU 3.17.1 has none of the features newer versions add');
    expect(byItem.get('criu cannot')).toContain(
      'leaves its nftables lock in place after a restore in a new pid namespace',
    );
    expect(byItem.get('criu cannot')).toContain('cannot dump pidfds');
  });

  it('says nothing of a CRIU that is missing or too old (its own finding fails)', () => {
    expect(criuFindings([{ tool: 'criu', installed: false }])).toEqual([]);
    expect(criuFindings(tools('3.16', '1.8.9 (nf_tables)'))).toEqual([]);
  });
});
