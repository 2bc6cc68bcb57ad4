/**
 * The workflow's phases and the one table of allowed status transitions.
 * Anything outside the table is a bug, so it throws instead of guessing.
 */
import { LeapError } from '../errors.js';

export const PHASES = [
  'plan',
  'rehearse',
  'pre',
  'load',
  'prepare',
  'dump',
  'kexec',
  'restore',
  'cleanup',
  'report',
  'upload',
] as const;
export type PhaseName = (typeof PHASES)[number];

export type PhaseStatus = 'pending' | 'running' | 'done' | 'failed' | 'skipped';

const TRANSITIONS: Record<PhaseStatus, readonly PhaseStatus[]> = {
  pending: ['running', 'skipped'],
  // running -> running: the machine died mid-phase; the phase is probed and re-entered.
  running: ['done', 'failed', 'running'],
  failed: ['running'],
  done: [],
  skipped: [],
};

export function assertTransition(phase: PhaseName, from: PhaseStatus, to: PhaseStatus): void {
  if (!TRANSITIONS[from].includes(to)) {
    throw new LeapError(
      'INVALID_TRANSITION',
      `invalid transition ${from} -> ${to} for phase ${phase}`,
      {
        hint: 'this is a bug in kernel-leap; the journal was left unchanged',
      },
    );
  }
}
