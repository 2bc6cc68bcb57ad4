/**
 * PTY remap at restore time (docs/criu-facts.md §8). CRIU recreates a master by opening
 * /dev/ptmx until TIOCGPTN equals the dumped index, holding at most 32 fds while it
 * searches, so a new index must be free and within 31 of the lowest free index.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

import { LeapError } from '../../errors.js';
import { type CritImage, decodeImage, encodeImage } from '../../tools/crit.js';
import type { Runner } from '../../tools/runner.js';

const CRIU_PTMX_WINDOW = 32;

export interface PtyRemap {
  from: number;
  to: number;
}

export function takenPtys(devPts = '/dev/pts'): Set<number> {
  return new Set(
    readdirSync(devPts)
      .filter((n) => /^\d+$/.test(n))
      .map(Number),
  );
}

/** Chooses a new index for each dumped index that is taken now; free ones stay. */
export function planPtyRemaps(dumped: readonly number[], taken: ReadonlySet<number>): PtyRemap[] {
  // The window counts from the kernel's lowest free index; dumped indexes that are
  // free stay reserved for their own ptys.
  const lowestFree = firstFree(taken, 0);
  const occupied = new Set([...taken, ...dumped]);
  const remaps: PtyRemap[] = [];
  for (const index of dumped.filter((i) => taken.has(i))) {
    const to = firstFree(occupied, lowestFree);
    if (to - lowestFree >= CRIU_PTMX_WINDOW) {
      throw new LeapError(
        'PTY_NO_FREE_INDEX',
        `pts/${index} is taken and no free pty index is within ${CRIU_PTMX_WINDOW - 1} of pts/${lowestFree}`,
        { hint: 'close some ssh logins on the new boot, then run `kernel-leap restore` again' },
      );
    }
    occupied.add(to);
    remaps.push({ from: index, to });
  }
  return remaps;
}

function firstFree(occupied: ReadonlySet<number>, from: number): number {
  let i = from;
  while (occupied.has(i)) i++;
  return i;
}

interface TtyInfoEntry {
  type: string;
  pty?: { index: number };
}
interface FileEntry {
  type: string;
  reg?: { name: string };
}

/** Master and slave both carry the index in tty-info; ids and rdev stay as they are. */
export function remapTtyInfo(image: CritImage<TtyInfoEntry>, remaps: readonly PtyRemap[]): number {
  let changed = 0;
  for (const entry of image.entries) {
    const remap = remaps.find((r) => entry.type === 'PTY' && entry.pty?.index === r.from);
    if (remap && entry.pty) {
      entry.pty.index = remap.to;
      changed++;
    }
  }
  return changed;
}

/** The slave is reopened by its path in files.img (3.17 keeps it there, not in reg-files.img). */
export function remapFiles(image: CritImage<FileEntry>, remaps: readonly PtyRemap[]): number {
  let changed = 0;
  for (const entry of image.entries) {
    const remap = remaps.find(
      (r) => entry.type === 'REG' && entry.reg?.name === `/dev/pts/${r.from}`,
    );
    if (remap && entry.reg) {
      entry.reg.name = `/dev/pts/${remap.to}`;
      changed++;
    }
  }
  return changed;
}

export async function applyPtyRemaps(
  runner: Runner,
  imagesDir: string,
  remaps: readonly PtyRemap[],
): Promise<{ ttyEntries: number; fileEntries: number }> {
  if (remaps.length === 0) return { ttyEntries: 0, fileEntries: 0 };
  const ttyPath = join(imagesDir, 'tty-info.img');
  const filesPath = join(imagesDir, 'files.img');
  if (!existsSync(ttyPath) || !existsSync(filesPath)) {
    throw new LeapError('IMAGES_INCOMPLETE', `${imagesDir} lacks tty-info.img or files.img`, {
      hint: 'the dump did not finish; the images cannot be restored',
    });
  }
  const tty = await decodeImage<TtyInfoEntry>(runner, ttyPath);
  const files = await decodeImage<FileEntry>(runner, filesPath);
  const ttyEntries = remapTtyInfo(tty, remaps);
  const fileEntries = remapFiles(files, remaps);
  await encodeImage(runner, ttyPath, tty);
  await encodeImage(runner, filesPath, files);
  return { ttyEntries, fileEntries };
}
