/**
 * The only reader of /proc. Everything goes through a ProcSource, so plan and
 * discover run unchanged on recorded snapshots (test/fixtures/proc/*.json).
 * Processes vanish while we read, and some entries are not ours to read (another
 * user's fds without root): those reads answer undefined; any other error throws.
 */
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';

import { HOST_PATHS } from './host-paths.js';

export interface StatFacts {
  ino: number;
  mode: number;
  nlink: number;
  size: number;
  uid: number;
  gid: number;
  /** The device a file is (a terminal's), and the one it lives on: criu's tty[rdev:dev] key. Absent from older recordings. */
  rdev?: number;
  dev?: number;
}

export interface ProcSource {
  readText(path: string): string | undefined;
  readLink(path: string): string | undefined;
  listDir(path: string): string[];
  /** stat() following links, as /proc/PID/fd/N and map_files need. */
  stat(path: string): StatFacts | undefined;
}

const GONE_OR_HIDDEN = new Set(['ENOENT', 'ESRCH', 'EACCES', 'EPERM']);

function quiet<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch (error) {
    if (GONE_OR_HIDDEN.has((error as NodeJS.ErrnoException).code ?? '')) return undefined;
    throw error;
  }
}

export const liveProc: ProcSource = {
  readText: (path) => quiet(() => readFileSync(path, 'utf8')),
  readLink: (path) => quiet(() => readlinkSync(path)),
  listDir: (path) => quiet(() => readdirSync(path)) ?? [],
  stat: (path) =>
    quiet(() => {
      const s = statSync(path);
      return {
        ino: s.ino,
        mode: s.mode,
        nlink: s.nlink,
        size: s.size,
        uid: s.uid,
        gid: s.gid,
        rdev: s.rdev,
        dev: s.dev,
      };
    }),
};

/** This boot's id, which tells a file this boot wrote from an earlier boot's; `unknown` without one. */
export function bootId(path = HOST_PATHS.procBootId): string {
  return liveProc.readText(path)?.trim() ?? 'unknown';
}

/** A recorded snapshot: what each path read, linked to, listed or stat'ed. */
export interface ProcSnapshot {
  texts: Record<string, string>;
  links: Record<string, string>;
  dirs: Record<string, string[]>;
  stats: Record<string, StatFacts>;
}

export function snapshotProc(snapshot: ProcSnapshot): ProcSource {
  return {
    readText: (path) => snapshot.texts[path],
    readLink: (path) => snapshot.links[path],
    listDir: (path) => snapshot.dirs[path] ?? [],
    stat: (path) => snapshot.stats[path],
  };
}

/** Wraps a source and records every answer, to write fixtures from a real machine. */
export function recordingProc(source: ProcSource): { proc: ProcSource; snapshot: ProcSnapshot } {
  const snapshot: ProcSnapshot = { texts: {}, links: {}, dirs: {}, stats: {} };
  const keep = <T>(table: Record<string, T>, path: string, value: T | undefined): T | undefined => {
    if (value !== undefined) table[path] = value;
    return value;
  };
  return {
    snapshot,
    proc: {
      readText: (p) => keep(snapshot.texts, p, source.readText(p)),
      readLink: (p) => keep(snapshot.links, p, source.readLink(p)),
      listDir: (p) => keep(snapshot.dirs, p, source.listDir(p)) ?? [],
      stat: (p) => keep(snapshot.stats, p, source.stat(p)),
    },
  };
}

/** One snapshot holding the answers of both (the second wins on a path both read). */
export function mergeSnapshots(a: ProcSnapshot, b: ProcSnapshot): ProcSnapshot {
  return {
    texts: { ...a.texts, ...b.texts },
    links: { ...a.links, ...b.links },
    dirs: { ...a.dirs, ...b.dirs },
    stats: { ...a.stats, ...b.stats },
  };
}
