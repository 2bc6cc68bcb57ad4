/**
 * The GRUB one-shot with the real grub-editenv (grub-common) on a temp boot tree:
 * the entry set is what GRUB's load_env reads from the environment block, the
 * cleanup clears it, and a one-shot set before the leap (someone's grub-reboot)
 * comes back, whether the new kernel booted or GRUB used ours on a fallback boot.
 */
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { readGrubFallback } from '../../src/state/grub-fallback.js';
import { armBootFallback, disarmBootFallback } from '../../src/steps/checkpoint/fallback.js';
import { grubFiles, readNextEntry, setNextEntry, unsetNextEntry } from '../../src/tools/grub.js';
import { ExecaRunner } from '../../src/tools/runner.js';

const runner = new ExecaRunner();
const RUNNING = '6.1.0-40-amd64';
const DEVICE = '8d1f6b2e-4c39-4c1a-9f0e-3b7e5a2d9c41';
const ENTRY = `gnulinux-advanced-${DEVICE}>gnulinux-${RUNNING}-advanced-${DEVICE}`;
/** Someone's grub-reboot before the leap. */
const EARLIER = `gnulinux-advanced-${DEVICE}>gnulinux-6.1.0-41-amd64-recovery-${DEVICE}`;

/**
 * GRUB's environment block is 1024 bytes: the signature, then `name=value` lines;
 * GRUB skips a line that starts with `#` (grub-editenv's warning, the padding).
 */
const SIGNATURE = '# GRUB Environment Block\n';

/** What GRUB's load_env reads from the block, parsed as GRUB does, not through grub-editenv. */
function grubWouldRead(envFile: string): Map<string, string> {
  const block = readFileSync(envFile, 'latin1');
  expect(block.length).toBe(1024);
  expect(block.startsWith(SIGNATURE)).toBe(true);
  const vars = new Map<string, string>();
  for (const line of block.slice(SIGNATURE.length).split('\n')) {
    if (line.startsWith('#')) continue;
    const at = line.indexOf('=');
    if (at > 0) vars.set(line.slice(0, at), line.slice(at + 1).replace(/\\(.)/g, '$1'));
  }
  return vars;
}

/** A boot tree with Debian 12's grub.cfg, and this boot's kernel release. */
function grubHost() {
  const root = mkdtempSync(join(tmpdir(), 'kl-grub-'));
  const host = { boot: join(root, 'boot'), procSys: join(root, 'proc/sys') };
  mkdirSync(join(host.boot, 'grub'), { recursive: true });
  mkdirSync(join(host.procSys, 'kernel'), { recursive: true });
  copyFileSync(
    join(import.meta.dirname, '../fixtures/grub/bookworm.grub.cfg'),
    grubFiles(host.boot).cfg,
  );
  writeFileSync(join(host.procSys, 'kernel/osrelease'), `${RUNNING}\n`);
  const stateDir = join(root, 'state');
  mkdirSync(stateDir);
  return { host, stateDir, env: grubFiles(host.boot).env };
}

/** A journal's changes, as the run records them. */
function changesOf() {
  const changes: string[] = [];
  return {
    changes,
    recordChange: (kind: string, path: string, detail?: string) =>
      changes.push(`${kind} ${path} ${detail ?? ''}`),
  };
}

/** What 00_header does as it boots next_entry: `set next_entry=` and `save_env next_entry`. */
async function grubBootsNextEntry(env: string): Promise<void> {
  await runner.run({ file: 'grub-editenv', args: [env, 'set', 'next_entry='] });
}

describe('grub-editenv, as grub-reboot uses it', () => {
  it('sets next_entry in the block GRUB reads, reads it back, and unsets it', async () => {
    const { env } = grubHost();
    expect(await readNextEntry(runner, env)).toBeUndefined();
    expect(existsSync(env)).toBe(true);
    await setNextEntry(runner, env, ENTRY);
    expect(grubWouldRead(env).get('next_entry')).toBe(ENTRY);
    expect(await readNextEntry(runner, env)).toBe(ENTRY);
    await unsetNextEntry(runner, env);
    expect(grubWouldRead(env).has('next_entry')).toBe(false);
    expect(await readNextEntry(runner, env)).toBeUndefined();
  });
});

describe('the leap sets the one-shot to the running kernel, and the cleanup clears it', () => {
  it('after a good restore: set during the leap, unset after, the block as it was', async () => {
    const { host, stateDir, env } = grubHost();
    const journal = changesOf();
    const armed = await armBootFallback({ runner, host, stateDir, journals: [journal] });
    expect(armed).toEqual({ kind: 'grub-once', version: RUNNING, entry: ENTRY });
    expect(grubWouldRead(env).get('next_entry')).toBe(ENTRY);
    expect(readGrubFallback(stateDir)).toEqual({ entry: ENTRY, version: RUNNING });
    expect(journal.changes).toEqual([
      `grub next_entry ${env} ${ENTRY}: the next cold boot is ${RUNNING}, once`,
    ]);

    expect(await disarmBootFallback(runner, host, stateDir)).toBe(`next_entry ${ENTRY} unset`);
    expect(grubWouldRead(env).has('next_entry')).toBe(false);
    expect(readGrubFallback(stateDir)).toBeUndefined();
    expect(await disarmBootFallback(runner, host, stateDir)).toBeUndefined();
  });

  it('puts back a one-shot set before the leap, after a good restore and after GRUB used ours', async () => {
    for (const fallbackBoot of [false, true]) {
      const { host, stateDir, env } = grubHost();
      await setNextEntry(runner, env, EARLIER);
      await armBootFallback({ runner, host, stateDir, journals: [] });
      expect(grubWouldRead(env).get('next_entry')).toBe(ENTRY);
      expect(readGrubFallback(stateDir)?.earlier).toBe(EARLIER);
      if (fallbackBoot) {
        await grubBootsNextEntry(env);
        expect(grubWouldRead(env).get('next_entry')).toBe('');
      }
      expect(await disarmBootFallback(runner, host, stateDir)).toBe(
        `next_entry ${EARLIER} put back`,
      );
      expect(grubWouldRead(env).get('next_entry')).toBe(EARLIER);
    }
  });

  it('after a fallback boot with nothing set before: nothing to clear', async () => {
    const { host, stateDir, env } = grubHost();
    await armBootFallback({ runner, host, stateDir, journals: [] });
    await grubBootsNextEntry(env);
    expect(await disarmBootFallback(runner, host, stateDir)).toBe(
      `next_entry ${ENTRY} was used by GRUB already: nothing to clear`,
    );
    expect(grubWouldRead(env).get('next_entry')).toBe('');
  });

  it("leaves a one-shot someone set after the leap's", async () => {
    const { host, stateDir, env } = grubHost();
    await armBootFallback({ runner, host, stateDir, journals: [] });
    await setNextEntry(runner, env, EARLIER);
    expect(await disarmBootFallback(runner, host, stateDir)).toBe(
      `next_entry ${EARLIER} kept: set by someone else since the leap`,
    );
    expect(grubWouldRead(env).get('next_entry')).toBe(EARLIER);
  });

  it('a second arm while the first is pending keeps the earlier one-shot it recorded', async () => {
    const { host, stateDir, env } = grubHost();
    await setNextEntry(runner, env, EARLIER);
    await armBootFallback({ runner, host, stateDir, journals: [] });
    await armBootFallback({ runner, host, stateDir, journals: [] });
    expect(readGrubFallback(stateDir)).toEqual({
      entry: ENTRY,
      version: RUNNING,
      earlier: EARLIER,
    });
  });

  it('without grub.cfg nothing is written, and the run says why', async () => {
    const { host, stateDir } = grubHost();
    const noGrub = { ...host, boot: join(stateDir, 'boot') };
    const { cfg, env } = grubFiles(noGrub.boot);
    const journal = changesOf();
    const armed = await armBootFallback({ runner, host: noGrub, stateDir, journals: [journal] });
    const why = `the machine does not boot through GRUB (no ${cfg})`;
    expect(armed).toEqual({ kind: 'none', why });
    expect(journal.changes).toEqual([`boot-fallback none ${why}`]);
    expect(existsSync(env)).toBe(false);
    expect(readGrubFallback(stateDir)).toBeUndefined();
  });
});
