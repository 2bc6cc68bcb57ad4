/**
 * A file the live session holds open in /tmp across a leap: bookworm empties /tmp
 * at boot and trixie mounts a fresh tmpfs there, and criu reopens a held file by
 * its path, so it comes back only if kernel-leap carried it (steps/plan/held-files.ts).
 */
import type { VmClient } from './vm-client.js';

export interface HeldRead {
  /** Processes whose fd 4 is the file: the restored shell, and what it started since. */
  holders: number;
  /** The file as the first holder's fd reads it. */
  content: string;
}

/** What the session runs before the upgrade: its shell holds `path` on fd 4, with a line in it. */
export function holdFileLine(path: string): string {
  return `exec 4>>${path}; echo before-the-leap >&4`;
}

/** The restored processes' fd 4, read through /proc: the file they hold, whatever /tmp is now. */
export async function heldFile(vm: VmClient, path: string): Promise<HeldRead> {
  const out = await vm.run(
    `n=0; for fd in /proc/[0-9]*/fd/4; do [ "$(readlink "$fd" 2>/dev/null)" = ${path} ] || continue; n=$((n + 1)); [ $n -gt 1 ] || cat "$fd"; done; echo "--holders $n"`,
  );
  const holders = /--holders (\d+)\n?$/.exec(out);
  return {
    holders: Number(holders?.[1] ?? 0),
    content: holders ? out.slice(0, holders.index) : out,
  };
}
