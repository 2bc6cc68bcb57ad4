/** crit adapter: decode an image to plain JSON and encode it back (round-trips byte-identically). */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { Runner } from './runner.js';

export interface CritImage<E = Record<string, unknown>> {
  magic: string;
  entries: E[];
}

export async function decodeImage<E>(runner: Runner, image: string): Promise<CritImage<E>> {
  const result = await runner.run({
    file: 'crit',
    args: ['decode', '-i', image],
    timeoutMs: 60_000,
  });
  return JSON.parse(result.stdout) as CritImage<E>;
}

/** Encodes to a temp file first, then replaces the image, so a failed encode leaves it whole. */
export async function encodeImage(
  runner: Runner,
  image: string,
  data: CritImage<unknown>,
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'kl-crit-'));
  try {
    const json = join(dir, 'image.json');
    const out = join(dir, 'image.img');
    writeFileSync(json, JSON.stringify(data), { mode: 0o600 });
    await runner.run({ file: 'crit', args: ['encode', '-i', json, '-o', out], timeoutMs: 60_000 });
    writeFileSync(image, readFileSync(out), { mode: 0o600 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
