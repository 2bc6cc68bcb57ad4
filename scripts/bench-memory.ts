/**
 * `--mem MiB`: a process in each carried session holds MiB of written memory,
 * different on every page (no zero page, no two pages alike), and proves it came
 * back intact. It prints the memory's CRC-32 into the session before the leap;
 * after it, once the host creates the check file, it reads every page again and
 * prints both sums. The same process holds the sum before and computes the one
 * after, so nothing but the memory itself can make them differ. It waits for the
 * host's word rather than checking at once, so its reading does not compete with
 * the other sessions' restores on the guest's two CPUs. It exits once it has
 * checked, or when its shell is gone (a session closed before the check), so no
 * round's memory is held into the next.
 */
import { shQuote, shText } from '../src/render/quote.js';
import type { StampedLine } from '../test/helpers/vm-session.js';

const HOLDER = `import os, sys, time, zlib
mib, check = int(sys.argv[1]), sys.argv[2]
page = os.sysconf('SC_PAGE_SIZE')
buf = bytearray(mib << 20)
for i in range(len(buf) // page):
    buf[i * page:(i + 1) * page] = ((i * 0x9E3779B97F4A7C15 + 1) % (1 << 64)).to_bytes(8, 'little') * (page // 8)
before = zlib.crc32(buf)
print('MEM-SUM %08x %d' % (before, mib), flush=True)
parent = os.getppid()
while not os.path.exists(check):
    if os.getppid() != parent:
        sys.exit(0)
    time.sleep(0.2)
after = zlib.crc32(buf)
print('MEM-CHECK %08x %08x %s' % (before, after, 'intact' if after == before else 'CHANGED'), flush=True)
`;

/** The shell command that starts the holder in the background of a session's shell. */
export function memoryHolderCommand(mib: number, checkFile: string): string {
  return `python3 -c ${shText(HOLDER)} ${mib} ${shQuote(checkFile)} &`;
}

export const MEM_SUM = /^MEM-SUM ([0-9a-f]{8}) (\d+)$/;
const MEM_CHECK = /^MEM-CHECK ([0-9a-f]{8}) ([0-9a-f]{8}) (intact|CHANGED)$/;

export interface MemoryCheck {
  mib: number;
  before: string;
  after: string;
  intact: boolean;
}

/**
 * What one session's holder printed, or why the memory does not count as intact:
 * a sum missing on either side, or two that differ. `lines` are the session's
 * lines of the round, from before the leap.
 */
export function memoryCheckOf(lines: readonly StampedLine[], mib: number): MemoryCheck {
  const sum = lines.map((l) => MEM_SUM.exec(l.text)).find((m) => m !== null);
  const check = lines.map((l) => MEM_CHECK.exec(l.text)).find((m) => m !== null);
  if (!sum || Number(sum[2]) !== mib)
    throw new Error(`the session printed no MEM-SUM line for ${mib} MiB before the leap`);
  if (!check) throw new Error('the session printed no MEM-CHECK line after the leap');
  const [, before, after] = check as unknown as [string, string, string];
  if (before !== sum[1])
    throw new Error(
      `the memory holder after the leap is not the one before it: its sum before reads ${before}, not ${sum[1]}`,
    );
  return { mib, before, after, intact: after === before };
}
