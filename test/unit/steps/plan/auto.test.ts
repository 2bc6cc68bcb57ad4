import { describe, expect, it } from 'vitest';

import { parseWindow, type Window } from '../../../../src/config/window.js';
import { autoDecision, type AutoFacts } from '../../../../src/steps/plan/auto.js';

const RUNNING = '6.1.0-55-cloud-amd64';
const NEWER = '6.1.0-56-cloud-amd64';
const OLDER = '6.1.0-54-cloud-amd64';
/** Saturday 5 December 2026, 03:00 local time. */
const IN_WINDOW = new Date(2026, 11, 5, 3, 0);

function window(text: string): Window {
  const parsed = parseWindow(text);
  if (!parsed.ok) throw new Error(parsed.problem);
  return parsed.window;
}

function facts(extra: Partial<AutoFacts> = {}): AutoFacts {
  return {
    running: RUNNING,
    installed: [OLDER, RUNNING, NEWER],
    rebootRequiredBy: undefined,
    enabled: true,
    window: window('Sat 02:00-04:00'),
    now: IN_WINDOW,
    lastNoGo: undefined,
    ...extra,
  };
}

describe("auto's decision", () => {
  it('leaps to the newest installed kernel newer than the running one, inside the window', () => {
    const decision = autoDecision(facts());
    expect(decision).toMatchObject({ action: 'leap', kernel: { version: NEWER, named: false } });
    expect(decision.reason).toBe(
      `${NEWER} is installed, newer than the running ${RUNNING}; inside the window Sat 02:00-04:00`,
    );
  });

  it('does nothing when no newer kernel is installed, even inside the window', () => {
    expect(autoDecision(facts({ installed: [OLDER, RUNNING] }))).toEqual({
      action: 'nothing',
      reason: `no kernel newer than the running ${RUNNING} is installed`,
    });
  });

  it('outside the window, waits for the next one and says so', () => {
    const decision = autoDecision(facts({ now: new Date(2026, 11, 5, 4, 0) }));
    expect(decision.action).toBe('wait');
    expect(decision.reason).toContain(
      'outside the window Sat 02:00-04:00, it waits for the next one',
    );
  });

  it('waits while disabled, and with no window at all', () => {
    expect(autoDecision(facts({ enabled: false })).reason).toContain('[auto] enabled is false');
    expect(autoDecision(facts({ window: undefined })).reason).toContain(
      '[auto] window is empty: never',
    );
  });

  it('leaps by name to a kernel rebuilt under an installed version that asks for a reboot', () => {
    const decision = autoDecision(
      facts({
        installed: [RUNNING],
        rebootRequiredBy: ['libc6', `linux-image-${RUNNING}`],
      }),
    );
    expect(decision).toMatchObject({ action: 'leap', kernel: { version: RUNNING, named: true } });
    expect(decision.reason).toContain(`/run/reboot-required names linux-image-${RUNNING}`);
  });

  it('a reboot asked for by other packages is not a leap', () => {
    const decision = autoDecision(
      facts({ installed: [RUNNING], rebootRequiredBy: ['libc6', 'linux-image-cloud-amd64'] }),
    );
    expect(decision.action).toBe('nothing');
    expect(decision.reason).toContain('libc6, linux-image-cloud-amd64 is not one a leap gives');
  });

  it('tries once per window: after a no-go in this window it waits for the next', () => {
    const noGo = { at: new Date(2026, 11, 5, 2, 15), reason: 'the plan says no-go' };
    const decision = autoDecision(facts({ lastNoGo: noGo }));
    expect(decision.action).toBe('wait');
    expect(decision.reason).toContain(
      'was a no-go (the plan says no-go), the next window tries again',
    );
    const lastWeek = { ...noGo, at: new Date(2026, 10, 28, 2, 15) };
    expect(autoDecision(facts({ lastNoGo: lastWeek })).action).toBe('leap');
  });
});
