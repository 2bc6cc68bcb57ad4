/**
 * What a CRIU version can and cannot do, as far as kernel-leap depends on it:
 * facts keyed by the version that brought them (from CRIU's source, docs/criu-facts.md §16,
 * and what was measured in the test beds), so `check` and `plan` state them for
 * the CRIU found instead of assuming one. Pure: the version comes from `criu --version`.
 */
import { criuVersionNumber } from './versions.js';

/** Below this kernel-leap does not run: the oldest CRIU it was built and tested with. */
export const MIN_CRIU = { text: '3.17', number: 31700 } as const;

export type CriuFeature = 'pidfd' | 'nftablesUnlockInNewPidns' | 'skipFileRwxCheck';

interface FeatureFact {
  since: string;
  /** A few words, for the plan's one-line summary. */
  name: string;
  /** What the version can do, said of a version that has it. */
  can: string;
  /** What it cannot do, said of a version that lacks it. */
  cannot: string;
}

const FEATURES: Record<CriuFeature, FeatureFact> = {
  // criu/pidfd.c (1ce408ffa), first tagged in v4.1.
  pidfd: {
    since: '4.1',
    name: 'pidfd dump',
    can: 'dumps pidfds',
    cannot: 'cannot dump pidfds (anon_inode:[pidfd])',
  },
  // f83931542: the nftables lock table is named by the dump's run id, not the
  // restore-time pid, so unlock finds it after a restore in a new pid namespace.
  nftablesUnlockInNewPidns: {
    since: '4.1',
    name: 'nftables unlock in a new pid namespace',
    can: 'unlocks its nftables lock after a restore in a new pid namespace',
    cannot:
      'leaves its nftables lock in place after a restore in a new pid namespace (the table is named by the restore-time pid)',
  },
  // 18fba4125: ignores the rwx bits when a restored file's mode is checked.
  skipFileRwxCheck: {
    since: '3.18',
    name: '--skip-file-rwx-check',
    can: 'has --skip-file-rwx-check',
    cannot: 'has no --skip-file-rwx-check (kernel-leap chmods a deleted exe instead)',
  },
};

/** What no released CRIU does, up to the newest one read (v4.2). */
const NEVER = [
  'cannot dump io_uring fds (Node 22 holds them: kernel-leap leaves the session before the dump)',
  'cannot dump a process in a nested pid, ipc, uts or user namespace',
  'cannot restore a unix stream to a peer outside the tree (kernel-leap hands over a closed socket)',
] as const;

/** The anon inodes every supported CRIU dumps (criu/files.c); more come with versions. */
const ANON_INODES = [
  '[eventpoll]',
  '[eventfd]',
  '[signalfd]',
  '[timerfd]',
  'inotify',
  '[fanotify]',
  '[bpf-map]',
] as const;

export interface CriuAbilities {
  /** The version text as criu printed it, or undefined when it was not found. */
  version: string | undefined;
  /** The version the facts are for: the one found, or the minimum when none was. */
  assumed: string;
  has(feature: CriuFeature): boolean;
  /** anon_inode:<kind> kinds this version can dump. */
  anonInodes: ReadonlySet<string>;
  /** How kernel-leap locks the dumped connections with this version, and why. */
  networkLock: { method: 'iptables'; why: string };
  /** One line each: what this version can and cannot do, for check and plan. */
  can: string[];
  cannot: string[];
  /** The part of `cannot` that a newer CRIU can do. */
  cannotByVersion: string[];
  /** One line for the plan: "has X, Y; lacks Z (4.1)". */
  summary: string;
}

export function criuAbilities(version: string | undefined): CriuAbilities {
  const number = (version && criuVersionNumber(version)) || MIN_CRIU.number;
  const has = (feature: CriuFeature) =>
    number >= (criuVersionNumber(FEATURES[feature].since) ?? Infinity);
  const features = Object.keys(FEATURES) as CriuFeature[];
  const anonInodes = new Set<string>([...ANON_INODES, ...(has('pidfd') ? ['[pidfd]'] : [])]);
  const why = has('nftablesUnlockInNewPidns')
    ? 'iptables rules, saved after the dump and loaded before the network at boot; criu removes them as the tasks resume (its nftables lock would also unlock, but kernel-leap reloads only iptables rules)'
    : 'iptables rules, saved after the dump and loaded before the network at boot; criu removes them as the tasks resume (its nftables lock would stay after a restore in a new pid namespace)';
  return {
    version,
    assumed: version ?? MIN_CRIU.text,
    has,
    anonInodes,
    networkLock: { method: 'iptables', why },
    can: features.filter(has).map((f) => FEATURES[f].can),
    cannot: [...features.filter((f) => !has(f)).map((f) => FEATURES[f].cannot), ...NEVER],
    cannotByVersion: features
      .filter((f) => !has(f))
      .map((f) => `${FEATURES[f].cannot} (CRIU ${FEATURES[f].since} can)`),
    summary: [
      features.some(has)
        ? `has ${features
            .filter(has)
            .map((f) => FEATURES[f].name)
            .join(', ')}`
        : '',
      features.some((f) => !has(f))
        ? `lacks ${features
            .filter((f) => !has(f))
            .map((f) => `${FEATURES[f].name} (${FEATURES[f].since})`)
            .join(', ')}`
        : '',
    ]
      .filter(Boolean)
      .join('; '),
  };
}

/** "CRIU 4.1.1" or "CRIU (version unknown, facts of 3.17)". */
export function criuLabel(abilities: CriuAbilities): string {
  return abilities.version
    ? `CRIU ${abilities.version}`
    : `CRIU (version unknown, facts of ${abilities.assumed})`;
}
