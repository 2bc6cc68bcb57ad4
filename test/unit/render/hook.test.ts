import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { renderIfPreUpHook } from '../../../src/render/artefacts.js';

// Every character the quoting must survive, in every path the hook sees.
const NASTY = `kl it's $HOME "dq" back\\slash 100% ; \`id\` `;
const run = promisify(execFile);

describe('if-pre-up hook, run by dash', () => {
  let dir: string;
  let ctx: {
    rulesFile: string;
    marker: string;
    iptablesRestore: string;
    pendingFile: string;
    restoringBootFile: string;
    procBootId: string;
  };
  let hook: string;
  let calls: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), NASTY));
    calls = join(dir, 'calls');
    ctx = {
      rulesFile: join(dir, 'lock rules.v4'),
      marker: join(dir, 'run $X', 'rules-loaded'),
      iptablesRestore: join(dir, "bin's", 'iptables-restore'),
      pendingFile: join(dir, 'pending'),
      restoringBootFile: join(dir, 'restoring.boot'),
      procBootId: join(dir, 'boot_id'),
    };
    // A run waits for this boot.
    writeFileSync(ctx.pendingFile, 'r1\n');
    writeFileSync(ctx.procBootId, 'this-boot\n');
    // A fake iptables-restore that logs its argv, takes a moment (to widen races) and can fail.
    mkdirSync(join(dir, "bin's"));
    writeFileSync(
      ctx.iptablesRestore,
      `#!/bin/sh\nsleep 0.2\nprintf '[%s]' "$@" >> "$CALLS"\necho >> "$CALLS"\nexit "\${FAKE_EXIT:-0}"\n`,
      { mode: 0o755 },
    );
    hook = join(dir, 'kernel-leap');
    writeFileSync(hook, renderIfPreUpHook(ctx), { mode: 0o755 });
  });

  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const runHook = (env: Record<string, string> = {}) =>
    run(hook, [], { env: { ...process.env, CALLS: calls, ...env } });
  const loads = () =>
    existsSync(calls) ? readFileSync(calls, 'utf8').split('\n').filter(Boolean) : [];

  it('passes dash -n, and its variables read back exactly', () => {
    expect(readFileSync(hook, 'utf8')).toMatch(/^#!\/bin\/sh\n/);
    execFileSync('dash', ['-n', hook]);
    const header = readFileSync(hook, 'utf8')
      .split('\n')
      .filter((l) => /^[A-Z_]+=/.test(l));
    const script = [
      ...header,
      'printf "%s\\n" "$RULES" "$MARKER" "$MARKER_DIR" "$IPTABLES_RESTORE"',
    ].join('\n');
    expect(execFileSync('dash', ['-c', script]).toString()).toBe(
      `${ctx.rulesFile}\n${ctx.marker}\n${join(dir, 'run $X')}\n${ctx.iptablesRestore}\n`,
    );
  });

  it('loads for the list this boot took, and nothing for a list an earlier boot left (its restore cut short)', async () => {
    writeFileSync(ctx.rulesFile, '*filter\nCOMMIT\n');
    rmSync(ctx.pendingFile);
    // As the take writes it: the boot's id, then the runs it took.
    writeFileSync(ctx.restoringBootFile, 'an-earlier-boot\nr1\n');
    await runHook();
    expect(loads()).toEqual([]);
    writeFileSync(ctx.restoringBootFile, 'this-boot\nr1\n');
    await runHook();
    expect(loads()).toEqual([`[--noflush][${ctx.rulesFile}]`]);
  });

  it('exits 0 and loads nothing when the rules file is gone', async () => {
    await runHook();
    expect(loads()).toEqual([]);
    expect(existsSync(ctx.marker)).toBe(false);
  });

  it('loads the rules once with --noflush, then leaves them to the marker', async () => {
    writeFileSync(ctx.rulesFile, '*filter\nCOMMIT\n');
    await runHook();
    expect(loads()).toEqual([`[--noflush][${ctx.rulesFile}]`]);
    expect(existsSync(ctx.marker)).toBe(true);
    expect(existsSync(`${ctx.marker}.loading`)).toBe(false);
    await runHook();
    expect(loads()).toHaveLength(1);
  });

  it('loads once when interfaces come up in parallel', async () => {
    writeFileSync(ctx.rulesFile, '*filter\nCOMMIT\n');
    await Promise.all(Array.from({ length: 8 }, () => runHook()));
    expect(loads()).toEqual([`[--noflush][${ctx.rulesFile}]`]);
    expect(existsSync(ctx.marker)).toBe(true);
  });

  it('exits 0 without a marker when iptables-restore fails, so the next interface retries', async () => {
    writeFileSync(ctx.rulesFile, 'garbage\n');
    await runHook({ FAKE_EXIT: '2' });
    expect(existsSync(ctx.marker)).toBe(false);
    await runHook();
    expect(loads()).toHaveLength(2);
    expect(existsSync(ctx.marker)).toBe(true);
  });

  it('exits 0 when the marker directory cannot be made', async () => {
    writeFileSync(ctx.rulesFile, '*filter\nCOMMIT\n');
    writeFileSync(join(dir, 'run $X'), 'a file where the directory should be');
    await runHook();
    expect(loads()).toEqual([]);
  });

  it('exits 0 when iptables-restore is missing', async () => {
    writeFileSync(ctx.rulesFile, '*filter\nCOMMIT\n');
    rmSync(ctx.iptablesRestore);
    await runHook();
    expect(existsSync(ctx.marker)).toBe(false);
  });
});
