/** Steps the upgrade tests share: set a guest up for kernel-leap with the local S3, read its runs. */
import type { Guest } from './guest.js';
import { GUEST_CREDENTIALS, type LocalS3 } from './s3rver.js';
import { installKernelLeap } from './session.js';

export async function prepareGuest(guest: Guest, s3: LocalS3): Promise<void> {
  await installKernelLeap(guest, s3.guestConfig());
  await guest.run(`umask 077 && printf '%s' '${GUEST_CREDENTIALS}' > /etc/kernel-leap/credentials`);
}

export async function latestJournal(guest: Guest): Promise<{ runId: string; phases: Record<string, { status: string; outputs?: Record<string, unknown> }>; marks: Record<string, string> }> {
  return JSON.parse(await guest.run('cat /var/lib/kernel-leap/latest/journal.json'));
}

export async function waitForOutcome(guest: Guest, outcome: RegExp, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const r = await guest.exec('cat /var/lib/kernel-leap/latest/outcome 2>/dev/null', 20_000);
    if (outcome.test(r.stdout.trim())) return r.stdout.trim();
    await new Promise((res) => setTimeout(res, 1000));
  }
  throw new Error(`run outcome did not match ${outcome} within ${timeoutMs / 1000} s`);
}

/** What an upgrade must leave behind on the new boot: nothing one-shot. */
export const ARTEFACTS_GONE = 'ls /etc/systemd/system/kernel-leap-* /etc/network/if-pre-up.d/kernel-leap /var/lib/kernel-leap/lock-rules.v4 /var/lib/kernel-leap/pending 2>/dev/null | wc -l';

export async function expectEventually(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new Error(`condition not met within ${timeoutMs / 1000} s`);
}
