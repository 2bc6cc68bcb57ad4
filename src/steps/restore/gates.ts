/**
 * Gates the restore waits on at boot, each polled with a deadline, never slept on:
 * devpts, the lock rules, and every dumped local address (docs/criu-facts.md §4: without
 * it, soccr cannot bind the socket back). restore-fast.sh polls the same three.
 */
import { existsSync } from 'node:fs';
import { networkInterfaces } from 'node:os';

import { ExitCode, type LeapError } from '../../errors.js';
import { timedOut, waitUntil } from '../../tools/wait.js';

export function configuredAddresses(): Set<string> {
  const found = new Set<string>();
  for (const list of Object.values(networkInterfaces()))
    for (const a of list ?? []) found.add(a.address);
  return found;
}

const GATE_FAILURE = { code: 'GATE_TIMEOUT', exit: ExitCode.restoreFailed } as const;

export interface Gate {
  /** The journal mark taken once it is open. */
  mark: string;
  what: string;
  hint: string;
  open: () => boolean;
}

export function restoreGates(
  rulesFile: string,
  marker: string,
  addresses: readonly string[],
): Gate[] {
  return [
    {
      mark: 'gate.devpts',
      what: '/dev/pts',
      hint: 'devpts is not mounted; is this a normal systemd boot?',
      open: () => existsSync('/dev/pts/ptmx'),
    },
    {
      mark: 'gate.rules',
      what: 'the lock rules to be loaded',
      hint: 'kernel-leap-rules.service did not run; see `journalctl -u kernel-leap-rules`',
      open: () => !existsSync(rulesFile) || existsSync(marker),
    },
    {
      mark: 'gate.addresses',
      what: `local addresses ${addresses.join(', ')}`,
      hint: 'check that the network config gives this host the same address after boot, or raise [restore] address_timeout',
      open: () => addresses.every((a) => configuredAddresses().has(a)),
    },
  ];
}

export function waitForGate(gate: Gate, timeoutMs: number): Promise<void> {
  return waitUntil(gate.open, timeoutMs, gate.what, gate.hint, GATE_FAILURE);
}

/** The gate's own error, for a wait that restore-fast.sh already timed out. */
export function gateTimedOut(gate: Gate, timeoutMs: number): LeapError {
  return timedOut(timeoutMs, gate.what, gate.hint, GATE_FAILURE);
}
