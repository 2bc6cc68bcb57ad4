/**
 * The booted state of a test bed: one guest booted cold, left to finish its
 * boot, and saved (its disk as a qcow2 overlay on the image, its RAM and
 * devices in a file QEMU wrote), so that the guests after it start from there
 * in seconds instead of booting for a minute or more under TCG.
 *
 * Kept beside the image in the cache, in a directory named by a hash of all
 * that must match for QEMU to load it: the image (its directory is its recipe's
 * hash), QEMU's version and the machine's flags. Any change makes a new one;
 * docs/testing.md says more.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { qemuVersion } from './vm-accel.js';
import type { VmImage } from './vm-image.js';
import { type Accel, qemuArgs } from './vm-qemu.js';

export interface BootedState {
  dir: string;
  /** The qcow2 disk at the moment of the save, on the image's raw disk; never written again. */
  disk: string;
  /** What QEMU wrote: the guest's RAM and device state. */
  ram: string;
}

/** Boots a guest cold in `dir`, with its disk on the image and a QMP socket, and saves it there. */
export type SaveBooted = (dir: string, state: BootedState) => Promise<void>;

const READY = 'ready.json';
const building = new Map<string, Promise<BootedState>>();

/**
 * The bed's booted state, saved by `save` the first time it is asked for and
 * reused after that, within this process and by later runs. Concurrent callers
 * (the fleet's three guests) wait for the same one.
 */
export function bootedState(image: VmImage, accel: Accel, save: SaveBooted): Promise<BootedState> {
  const dir = join(image.dir, `booted-${stateKey(image, accel)}`);
  if (existsSync(join(dir, READY))) return Promise.resolve(paths(dir));
  let pending = building.get(dir);
  if (!pending) {
    pending = saveOnce(dir, save);
    building.set(dir, pending);
  }
  return pending;
}

function paths(dir: string): BootedState {
  return { dir, disk: join(dir, 'overlay.qcow2'), ram: join(dir, 'ram.state') };
}

/** Everything in QEMU's argv that the saved devices and RAM depend on, with per-guest paths left out. */
function stateKey(image: VmImage, accel: Accel): string {
  const argv = qemuArgs({ image, accel, disk: 'DISK', port: 1, serialLog: 'SERIAL' });
  return createHash('sha256')
    .update(`${qemuVersion()}\n${argv.join(' ')}`)
    .digest('hex')
    .slice(0, 16);
}

/**
 * Saves into a fresh directory and renames it into place, so an interrupted
 * save leaves nothing that looks ready; when another run got there first, its
 * state is as good as ours.
 */
async function saveOnce(dir: string, save: SaveBooted): Promise<BootedState> {
  const work = mkdtempSync(`${dir}.tmp-`);
  try {
    const started = Date.now();
    await save(work, paths(work));
    writeFileSync(
      join(work, READY),
      `${JSON.stringify({ savedAt: new Date().toISOString(), seconds: Math.round((Date.now() - started) / 1000) })}\n`,
    );
    try {
      renameSync(work, dir);
    } catch (error) {
      if (!existsSync(join(dir, READY))) throw error;
    }
    return paths(dir);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
