/**
 * An exclusive lock file that names its owner (pid and boot). A lock whose owner
 * is gone, or lived on an earlier boot, is taken over: a crash or a kexec must
 * never lock work out for good. The file appears with its owner already in it
 * (a hard link to a written temp file), and a stale one is moved aside before it
 * is replaced, so two takers cannot both win, nor mistake a lock being written
 * for a dead one.
 */
import { linkSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';

import { bootId, liveProc } from '../tools/procfs.js';

export type Lock = { held: true; release: () => void } | { held: false; owner: number };

export function tryLock(path: string): Lock {
  if (create(path)) return held(path);
  const owner = readOwner(path);
  if (owner.alive) return { held: false, owner: owner.pid };
  // Of the takers of a stale lock, the one whose create lands holds it; the others see its owner.
  moveAsideIfStill(path, owner.text);
  return create(path) ? held(path) : { held: false, owner: readOwner(path).pid };
}

function create(path: string): boolean {
  const temp = `${path}.${process.pid}.new`;
  writeFileSync(temp, `${process.pid} ${bootId()}\n`, { mode: 0o600 });
  try {
    linkSync(temp, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    rmSync(temp, { force: true });
  }
}

/**
 * Moves the stale lock out of the way if the file there still says what we read.
 * Another taker may have replaced it since: its lock then goes back, unless a
 * third one was made meanwhile.
 */
function moveAsideIfStill(path: string, staleText: string): void {
  const aside = `${path}.${process.pid}.stale`;
  try {
    renameSync(path, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  try {
    if (readFileSync(aside, 'utf8') !== staleText) linkSync(aside, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    rmSync(aside, { force: true });
  }
}

function held(path: string): Lock {
  return { held: true, release: () => rmSync(path, { force: true }) };
}

function readOwner(path: string): { pid: number; alive: boolean; text: string } {
  const text = liveProc.readText(path) ?? '';
  const [pidText, boot] = text.trim().split(' ');
  const pid = Number(pidText);
  const alive =
    Number.isInteger(pid) &&
    pid > 0 &&
    boot === bootId() &&
    liveProc.readText(`/proc/${pid}/stat`) !== undefined;
  return { pid, alive, text };
}
