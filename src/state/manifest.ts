/**
 * The restore manifest: everything the boot-time restore needs, written by the
 * checkpoint side before the freeze, so the new boot never re-derives the plan.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import type { CriuRestoreOptions } from '../tools/criu-args.js';
import { jsonText } from '../tools/printable.js';
import { writeFileAtomic } from './atomic.js';

export interface Endpoint {
  ip: string;
  port: number;
}

/** A local address put back on its interface at boot, once the lock rules are in, before the network stack. */
export interface EarlyAddress {
  ip: string;
  prefix: number;
  dev: string;
  /** The interface's default route at the dump, put back with it. */
  gateway?: string | undefined;
  metric?: number | undefined;
}

export interface FifoToRecreate {
  path: string;
  mode: number;
  uid: number;
  gid: number;
  /** The --external key the dump used, e.g. file[af:2aa]. */
  key: string;
  /** The fd criu inherits it on (3-9: dash redirects single digits only). */
  fd: number;
}

export interface UnixReconnect {
  /** socket:[INO] as dumped with --external unix[INO]. */
  key: string;
  fd: number;
  peerPath: string | undefined;
  /** Set when the peer is another tree of the same leap: both restores meet on this name and share one socketpair. */
  rejoin?: string;
}

/** A terminal the tree holds whose master another tree of the leap owns (a tmux server holds its client's). */
export interface HeldTerminal {
  /** The index at the dump: the owner's restore makes it again (or remaps it). */
  pts: number;
  /** tty[RDEV:DEV] as dumped with --external. */
  key: string;
  fd: number;
  /** The tree held it O_NONBLOCK. */
  nonBlocking: boolean;
}

/** The directory of a unix socket the tree listens on at a path, which the boot may have emptied (/tmp). */
export interface SocketDir {
  path: string;
  mode: number;
  uid: number;
  gid: number;
}

/**
 * A regular file a tree of a user other than root holds by path. criu opens it
 * again by that path, as root, and checks only its size and mode: the restore
 * script first checks that the path reaches it through no symlink of a user and
 * that it is the file of the dump (docs/trust.md).
 */
export interface ReopenedFile {
  path: string;
  /** The device it is on, where a boot keeps the number: a block device's. */
  dev?: number | undefined;
  /** Its inode, where a boot keeps it: not on proc or sysfs, whose files the kernel numbers anew each boot. */
  ino?: number | undefined;
}

export interface RestoreManifest {
  schema: 1;
  runId: string;
  imagesDir: string;
  logsDir: string;
  ptys: number[];
  connections: Array<{ local: Endpoint; peer: Endpoint }>;
  fifos: FifoToRecreate[];
  unixExternals: UnixReconnect[];
  /** Absent in manifests written before held terminals were kept. */
  terminals?: HeldTerminal[];
  /** Absent in manifests written before sockets' directories were kept. */
  socketDirs?: SocketDir[];
  /** Absent in manifests written before reopened files were checked. */
  reopenedFiles?: ReopenedFile[];
  /** The leased addresses the restore script puts back itself (steps/plan/network.ts); absent before it did. */
  earlyAddresses?: EarlyAddress[];
  criu: CriuRestoreOptions;
  rulesFile: string;
  /** Units installed for the boot, and every other generated file: all removed after the restore. */
  units: string[];
  artefacts: string[];
  addressTimeoutS: number;
  restoreTimeoutS: number;
  oldKernel: string;
  newKernel: string;
}

function manifestPath(runDir: string): string {
  return join(runDir, 'restore.json');
}

export function writeManifest(runDir: string, manifest: RestoreManifest): void {
  writeFileAtomic(manifestPath(runDir), `${jsonText(manifest, 2)}\n`);
}

export function readManifest(runDir: string): RestoreManifest {
  return JSON.parse(readFileSync(manifestPath(runDir), 'utf8')) as RestoreManifest;
}

/** Whether the run's tree holds a terminal of another tree; false without a readable manifest (its restore reports that). */
export function holdsTerminals(runDir: string): boolean {
  try {
    return (readManifest(runDir).terminals ?? []).length > 0;
  } catch {
    return false;
  }
}

export function localAddresses(manifest: Pick<RestoreManifest, 'connections'>): string[] {
  return [...new Set(manifest.connections.map((c) => c.local.ip))];
}
