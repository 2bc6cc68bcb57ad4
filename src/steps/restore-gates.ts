/**
 * Gates the restore waits on at boot, each polled with a deadline, never slept on:
 * devpts, the lock rules, and every dumped local address (FIELD-NOTES 4: without
 * it, soccr cannot bind the socket back).
 */
import { existsSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { waitUntil } from '../tools/wait.js';
import { ExitCode } from '../errors.js';

export function configuredAddresses(): Set<string> {
  const found = new Set<string>();
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) found.add(a.address);
  return found;
}

const GATE_FAILURE = { code: 'GATE_TIMEOUT', exit: ExitCode.restoreFailed } as const;

export function waitForAddresses(addresses: readonly string[], timeoutMs: number): Promise<void> {
  return waitUntil(() => addresses.every((a) => configuredAddresses().has(a)), timeoutMs, `local addresses ${addresses.join(', ')}`, 'check that the network config gives this host the same address after boot, or raise [restore] address_timeout', GATE_FAILURE);
}

export function waitForDevpts(timeoutMs: number): Promise<void> {
  return waitUntil(() => existsSync('/dev/pts/ptmx'), timeoutMs, '/dev/pts', 'devpts is not mounted; is this a normal systemd boot?', GATE_FAILURE);
}

export function waitForRules(rulesFile: string, marker: string, timeoutMs: number): Promise<void> {
  return waitUntil(() => !existsSync(rulesFile) || existsSync(marker), timeoutMs, 'the lock rules to be loaded', 'kernel-leap-rules.service did not run; see `journalctl -u kernel-leap-rules`', GATE_FAILURE);
}
