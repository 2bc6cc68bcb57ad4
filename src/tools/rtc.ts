/**
 * The offset of the system clock from the RTC. After a kexec the new kernel sets
 * its clock from the RTC at one-second resolution, so each boot's clock can be up
 * to a second off; timing the RTC's next second edge measures that to a few ms.
 * Takes up to a second: call it outside the session's downtime.
 */
import { readFileSync } from 'node:fs';

const SINCE_EPOCH = '/sys/class/rtc/rtc0/since_epoch';

function rtcSeconds(): number | undefined {
  try {
    return Number(readFileSync(SINCE_EPOCH, 'utf8'));
  } catch {
    return undefined;
  }
}

/** system clock minus RTC time, in ms; undefined when there is no RTC to read. */
export async function clockOffsetMs(timeoutMs = 1500): Promise<number | undefined> {
  const start = rtcSeconds();
  if (start === undefined) return undefined;
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const now = rtcSeconds();
    if (now !== undefined && now !== start) return Date.now() - now * 1000;
    await new Promise((r) => setImmediate(r));
  }
  return undefined;
}
