/**
 * Gates the restore waits on at boot, each polled with a deadline, never slept on:
 * devpts, the lock rules, and every dumped local address (FIELD-NOTES 4: without
 * it, soccr cannot bind the socket back).
 */
import { existsSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { LeapError, ExitCode } from '../errors.js';

export const RULES_LOADED_MARKER = '/run/kernel-leap/rules-loaded';
const POLL_MS = 50;

export function configuredAddresses(): Set<string> {
  const found = new Set<string>();
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) found.add(a.address);
  return found;
}

export async function waitFor(what: string, ready: () => boolean, timeoutMs: number, hint: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ready()) {
    if (Date.now() > deadline) throw new LeapError('GATE_TIMEOUT', `timed out after ${timeoutMs / 1000} s waiting for ${what}`, { hint, exit: ExitCode.restoreFailed });
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

export function waitForAddresses(addresses: readonly string[], timeoutMs: number): Promise<void> {
  return waitFor(`local addresses ${addresses.join(', ')}`, () => addresses.every((a) => configuredAddresses().has(a)), timeoutMs, 'check that the network config gives this host the same address after boot, or raise [restore] address_timeout');
}

export function waitForDevpts(timeoutMs: number): Promise<void> {
  return waitFor('/dev/pts', () => existsSync('/dev/pts/ptmx'), timeoutMs, 'devpts is not mounted; is this a normal systemd boot?');
}

export function waitForRules(rulesFile: string, timeoutMs: number): Promise<void> {
  return waitFor('the lock rules to be loaded', () => !existsSync(rulesFile) || existsSync(RULES_LOADED_MARKER), timeoutMs, 'kernel-leap-rules.service did not run; see `journalctl -u kernel-leap-rules`');
}
