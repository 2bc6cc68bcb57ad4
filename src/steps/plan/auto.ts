/**
 * `kernel-leap auto`'s decision, pure: whether a kernel waits to be leapt to, and
 * whether now is the time. A kernel waits when one newer than the running one is
 * installed, or when the machine asks for a reboot for a kernel package (Debian's
 * /run/reboot-required.pkgs; a kernel rebuilt under the same version is leapt to
 * by name). The leap happens only while enabled and inside the window, and once
 * per window: a no-go waits for the next one, never for a reboot.
 */
import { inWindow, type Window, windowOpenedAt } from '../../config/window.js';
import { compareKernelVersions } from '../../tools/facts.js';

export interface AutoFacts {
  running: string;
  /** The versions of /boot/vmlinuz-*. */
  installed: readonly string[];
  /** The packages that ask for a reboot; undefined when none is asked for. */
  rebootRequiredBy: readonly string[] | undefined;
  enabled: boolean;
  window: Window | undefined;
  now: Date;
  /** auto's last no-go, if that was its last decision: one try per window. */
  lastNoGo: { at: Date; reason: string } | undefined;
}

/** A kernel to leap to: its version, whether it must be named (--kernel), and why. */
export interface DueKernel {
  version: string;
  named: boolean;
  why: string;
}

export type AutoDecision =
  | { action: 'nothing'; reason: string }
  | { action: 'wait'; reason: string; kernel: DueKernel }
  | { action: 'leap'; reason: string; kernel: DueKernel };

const KERNEL_PACKAGE = /^linux-image-(.+)$/;

export function dueKernel(
  facts: Pick<AutoFacts, 'running' | 'installed' | 'rebootRequiredBy'>,
): DueKernel | undefined {
  const newest = facts.installed
    .filter((v) => compareKernelVersions(v, facts.running) > 0)
    .sort(compareKernelVersions)
    .at(-1);
  if (newest)
    return {
      version: newest,
      named: false,
      why: `${newest} is installed, newer than the running ${facts.running}`,
    };
  // A package of an installed kernel that asks for a reboot: the same version rebuilt (the running one's, most often).
  const asking = (facts.rebootRequiredBy ?? [])
    .map((p) => KERNEL_PACKAGE.exec(p)?.[1])
    .find((v) => v !== undefined && facts.installed.includes(v));
  if (asking)
    return {
      version: asking,
      named: true,
      why: `/run/reboot-required names linux-image-${asking}, installed anew`,
    };
  return undefined;
}

export function autoDecision(facts: AutoFacts): AutoDecision {
  const kernel = dueKernel(facts);
  if (!kernel) {
    const asked = facts.rebootRequiredBy?.length
      ? `; the reboot asked for by ${facts.rebootRequiredBy.join(', ')} is not one a leap gives`
      : '';
    return {
      action: 'nothing',
      reason: `no kernel newer than the running ${facts.running} is installed${asked}`,
    };
  }
  if (!facts.enabled)
    return { action: 'wait', kernel, reason: `${kernel.why}; [auto] enabled is false` };
  if (!facts.window)
    return { action: 'wait', kernel, reason: `${kernel.why}; [auto] window is empty: never` };
  if (!inWindow(facts.window, facts.now))
    return {
      action: 'wait',
      kernel,
      reason: `${kernel.why}; outside the window ${facts.window.text}, it waits for the next one`,
    };
  const opened = windowOpenedAt(facts.window, facts.now) as Date;
  if (facts.lastNoGo && facts.lastNoGo.at >= opened)
    return {
      action: 'wait',
      kernel,
      reason: `${kernel.why}; this window's try at ${facts.lastNoGo.at.toISOString()} was a no-go (${facts.lastNoGo.reason}), the next window tries again`,
    };
  return {
    action: 'leap',
    kernel,
    reason: `${kernel.why}; inside the window ${facts.window.text}`,
  };
}
