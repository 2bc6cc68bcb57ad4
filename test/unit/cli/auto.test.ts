/**
 * `kernel-leap auto` on a scratch host (kernels 6.1.0-55 running, -56 and -57
 * installed): the decisions that start nothing, what it records, and what
 * `status` then shows. In a guest: test/guest/checkpoint.test.ts (waits, and a
 * no-go inside the window) and test/guest/session-scope.test.ts (its timer leaps).
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import type { CommandContext } from '../../../src/cli/command.js';
import { autoCommand } from '../../../src/cli/commands/auto.js';
import { statusCommand } from '../../../src/cli/commands/status.js';
import { Output } from '../../../src/cli/output.js';
import { loadConfig } from '../../../src/config/load.js';
import { readAutoRecord, writeAutoRecord } from '../../../src/state/auto.js';
import {
  flowContext,
  NEW_KERNEL,
  NEWEST_KERNEL,
  OLD_KERNEL,
  scratchHost,
  ScriptedRunner,
} from '../../helpers/flow.js';

const hhmm = (d: Date) =>
  `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;

/** Every day, from `from` to `to` hours away from now (local time). */
function windowAround(from: number, to: number): string {
  const at = (hours: number) => new Date(Date.now() + hours * 3_600_000);
  return `* ${hhmm(at(from))}-${hhmm(at(to))}`;
}

function autoContext(window: string) {
  const runner = new ScriptedRunner();
  const host = scratchHost();
  const base = flowContext(runner, host);
  const printed: string[] = [];
  const stdout = { write: (text: string) => printed.push(text) > 0 } as NodeJS.WritableStream;
  const sink = { write: () => true } as unknown as NodeJS.WritableStream;
  const ctx: CommandContext = {
    ...base,
    config: loadConfig({
      env: {},
      overrides: [`paths.state_dir=${base.stateDir}`, 'auto.enabled=true', `auto.window=${window}`],
    }).config,
    configFile: undefined,
    configOverrides: [],
    out: new Output(false, false, stdout, sink),
  };
  return { ctx, runner, printed, stateDir: base.stateDir };
}

describe('kernel-leap auto', () => {
  it('outside the window, waits, starts nothing, and status shows why', async () => {
    const { ctx, runner, printed, stateDir } = autoContext(windowAround(2, 3));
    expect(await autoCommand.run(ctx, {}, [])).toBe(0);
    expect(runner.calls).toEqual([]);
    expect(readAutoRecord(stateDir)).toMatchObject({ action: 'wait', kernel: NEWEST_KERNEL });
    expect(printed.join('')).toContain(
      `auto: wait: ${NEWEST_KERNEL} is installed, newer than the running 6.1.0-55-cloud-amd64; outside the window`,
    );
    printed.length = 0;
    expect(await statusCommand.run(ctx, {}, [])).toBe(0);
    expect(printed.join('')).toMatch(/^last auto decision \(.+\): wait: .+ outside the window/);
  });

  it('with --dry-run inside the window, says it would leap and records nothing', async () => {
    const { ctx, runner, printed, stateDir } = autoContext(windowAround(-1, 1));
    expect(await autoCommand.run(ctx, { 'dry-run': true }, [])).toBe(0);
    expect(runner.calls).toEqual([]);
    expect(readAutoRecord(stateDir)).toBeUndefined();
    expect(printed.join('')).toMatch(/^auto: leap: \(dry run\) .+; inside the window \* /);
  });

  it('does nothing when no kernel newer than the running one is installed', async () => {
    const { ctx, runner, stateDir } = autoContext(windowAround(-1, 1));
    for (const version of [NEW_KERNEL, NEWEST_KERNEL])
      rmSync(join(ctx.host.boot, `vmlinuz-${version}`));
    expect(await autoCommand.run(ctx, {}, [])).toBe(0);
    expect(runner.calls).toEqual([]);
    expect(readAutoRecord(stateDir)?.action).toBe('nothing');
  });

  it('reads /run/reboot-required.pkgs: a kernel package of the running version asks for a leap to it by name', async () => {
    const { ctx, runner, printed } = autoContext(windowAround(-1, 1));
    for (const version of [NEW_KERNEL, NEWEST_KERNEL])
      rmSync(join(ctx.host.boot, `vmlinuz-${version}`));
    writeFileSync(ctx.host.rebootRequired, '*** System restart required ***\n');
    writeFileSync(
      `${ctx.host.rebootRequired}.pkgs`,
      `linux-image-${OLD_KERNEL}\nlibc6\nlinux-image-${OLD_KERNEL}\n`,
    );
    expect(await autoCommand.run(ctx, { 'dry-run': true }, [])).toBe(0);
    expect(runner.calls).toEqual([]);
    expect(printed.join('')).toContain(
      `auto: leap: (dry run) /run/reboot-required names linux-image-${OLD_KERNEL}, installed anew; inside the window`,
    );
  });

  it('after a no-go in this window, waits for the next one, and keeps that no-go across its waits', async () => {
    const { ctx, runner, stateDir } = autoContext(windowAround(-1, 1));
    const noGo = { at: new Date(Date.now() - 60_000).toISOString(), reason: 'the plan says no-go' };
    writeAutoRecord(stateDir, { ...noGo, action: 'no-go' });
    for (let i = 0; i < 2; i++) {
      expect(await autoCommand.run(ctx, {}, [])).toBe(0);
      expect(readAutoRecord(stateDir)).toMatchObject({
        action: 'wait',
        reason: expect.stringContaining('the next window tries again'),
        lastNoGo: noGo,
      });
    }
    expect(runner.calls).toEqual([]);
  });
});
