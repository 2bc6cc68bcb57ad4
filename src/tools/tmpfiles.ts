/**
 * systemd-tmpfiles: which directories the boot empties or removes. The boot's
 * systemd-tmpfiles-setup.service runs `--create --remove --boot`, which empties
 * each `D` directory and removes each `R` path (with `!`: at boot only). Debian 12
 * empties /tmp so (`D /tmp 1777 root root -`, /usr/lib/tmpfiles.d/tmp.conf).
 */
import { isLeapError } from '../errors.js';
import type { Runner } from './runner.js';

/** What the boot clears: the literal paths of tmpfiles' D and R lines, none with `why` when systemd-tmpfiles did not answer. */
export interface BootClearedDirs {
  dirs: string[];
  why?: string;
}

export async function bootClearedDirs(runner: Runner): Promise<BootClearedDirs> {
  try {
    const result = await runner.run({
      file: 'systemd-tmpfiles',
      args: ['--cat-config'],
      timeoutMs: 30_000,
    });
    return { dirs: parseClearedDirs(result.stdout) };
  } catch (error) {
    if (!isLeapError(error)) throw error;
    return { dirs: [], why: error.message };
  }
}

/**
 * The paths of `D` and `R` lines, any modifier after the letter (`!` boot only,
 * `-` errors ignored, `=`, `~`, `^`, `+`). Only literal paths: a glob (`R!
 * /tmp/systemd-private-*`) or a specifier (`%h`) names what the boot clears
 * only once it is expanded, and systemd's private tmp dirs hold no session's files.
 */
export function parseClearedDirs(catConfig: string): string[] {
  const dirs = new Set<string>();
  for (const raw of catConfig.split('\n')) {
    const [type, path] = raw.trim().split(/\s+/);
    if (!type || !path || !/^[DR][!\-=~^+]*$/.test(type)) continue;
    if (!path.startsWith('/') || /[*?[\]%\\]/.test(path)) continue;
    dirs.add(path.length > 1 ? path.replace(/\/+$/, '') : path);
  }
  return [...dirs];
}
