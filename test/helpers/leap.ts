/** Steps the kernel-leap guest tests share: install the package under test, point it at the local S3, read its runs. */
import { existsSync, readFileSync } from 'node:fs';

import { pollUntil } from './poll.js';
import { GUEST_CREDENTIALS, type LocalS3 } from './s3rver.js';
import type { VmClient } from './vm-client.js';
import type { GuestFile } from './vm-package.js';

/**
 * Installs this very build as its Debian package (Node, bundle, launcher, units),
 * with `apt-get install ./kernel-leap_*.deb`, then a config (the shipped defaults
 * unless one is given) and any more `files`, in one ssh.
 */
export async function installKernelLeap(
  vm: VmClient,
  config?: string,
  files: readonly GuestFile[] = [],
): Promise<void> {
  await vm.installPackage({
    files: [
      ...(config === undefined
        ? []
        : [{ path: '/etc/kernel-leap/kernel-leap.conf', content: config, mode: '0644' }]),
      ...files,
    ],
  });
}

export async function prepareGuest(vm: VmClient, s3: LocalS3): Promise<void> {
  await installKernelLeap(vm, s3.guestConfig(), [
    { path: '/etc/kernel-leap/credentials', content: GUEST_CREDENTIALS, mode: '0600' },
  ]);
}

export interface RunJournal {
  runId: string;
  phases: Record<string, { status: string; outputs?: Record<string, unknown> }>;
  marks: Record<string, string>;
}

export async function latestJournal(vm: VmClient): Promise<RunJournal> {
  return JSON.parse(await vm.run('cat /var/lib/kernel-leap/latest/journal.json')) as RunJournal;
}

/**
 * Polls a run's outcome (the latest run's unless `run` names one). It is absent
 * for a while mid-restore: the boot's restore clears it before it writes the new one.
 */
export function waitForOutcome(
  vm: VmClient,
  outcome: RegExp,
  timeoutMs: number,
  run?: string,
): Promise<string> {
  const file = `/var/lib/kernel-leap/${run === undefined ? 'latest' : `runs/${run}`}/outcome`;
  return pollUntil(
    async () => {
      const text = (await vm.exec(`cat ${file} 2>/dev/null`, { timeoutMs: 20_000 })).stdout.trim();
      return outcome.test(text) ? text : undefined;
    },
    {
      timeoutMs,
      intervalMs: 1000,
      what: `${run === undefined ? "the run's" : `run ${run}'s`} outcome to match ${outcome}`,
    },
  );
}

export function expectEventually(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
): Promise<true> {
  return pollUntil(async () => ((await check()) ? true : undefined), {
    timeoutMs,
    intervalMs: 1000,
    what,
  });
}

/** A kexec started from ssh, detached so the client does not hang on it; resolves once a new boot answers. */
export async function kexecAndWait(vm: VmClient, command = 'kexec -e'): Promise<void> {
  const boot = await vm.bootId();
  await vm.run(`systemd-run --no-block --quiet ${command}`);
  await vm.waitForNewBoot(boot, 420_000);
}

/** What an upgrade must leave behind on the new boot: nothing one-shot. */
export const ARTEFACTS_GONE =
  'ls /etc/systemd/system/kernel-leap-* /etc/network/if-pre-up.d/kernel-leap /var/lib/kernel-leap/lock-rules.v4 /var/lib/kernel-leap/pending /var/lib/kernel-leap/restoring 2>/dev/null | wc -l';

/**
 * What the guest says about its last run, for a failed assertion: outcome, report,
 * the restore log's tail and the serial console's. Never throws: the guest may be gone.
 */
export async function guestPostMortem(vm: VmClient): Promise<string> {
  const probe =
    'uname -r; uptime; cat /var/lib/kernel-leap/latest/outcome; kernel-leap report 2>&1 | tail -40; tail -25 /var/lib/kernel-leap/latest/logs/restore.log; journalctl -b -u "kernel-leap-*" --no-pager 2>&1 | tail -40';
  const guest = await vm.exec(probe, { timeoutMs: 60_000 }).then(
    (r) => r.stdout + r.stderr,
    (error: unknown) => `(guest unreachable: ${String(error)})`,
  );
  const serial = existsSync(vm.connection.serialLog)
    ? readFileSync(vm.connection.serialLog, 'utf8').split('\n').slice(-30).join('\n')
    : '(no serial log)';
  return `--- guest post-mortem ---\n${guest}\n--- serial console, last lines ---\n${serial}`;
}

/** Runs `step`; on failure adds the guest's post-mortem to the error. */
export async function withPostMortem<T>(vm: VmClient, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (error) {
    const message = `${error instanceof Error ? error.message : String(error)}\n${await guestPostMortem(vm)}`;
    throw Object.assign(new Error(message), { cause: error });
  }
}

const CONFIG = '/etc/kernel-leap/kernel-leap.conf';
const CONFIG_BEFORE_AUTO = '/root/kernel-leap.conf.before-auto';

/**
 * Runs `step` with `kernel-leap auto` on in the guest's config, its window every
 * day from `fromMin` to `toMin` minutes off the guest's local time now (the clock
 * auto reads it by); `step` gets that window. Then the config as it was, so that
 * auto leaps no later test. A failed step's error is the one thrown: after a
 * failed leap the guest may not answer, so the restore is only tried then.
 */
export async function withAutoEnabled<T>(
  vm: VmClient,
  fromMin: number,
  toMin: number,
  step: (window: string) => Promise<T>,
): Promise<T> {
  const at = (min: number) => `$(date -d '${min >= 0 ? '+' : ''}${min} min' +%H:%M)`;
  const window = await vm.run(
    `set -e; cp -p ${CONFIG} ${CONFIG_BEFORE_AUTO}; window="* ${at(fromMin)}-${at(toMin)}"; printf '%s\\n' "$(cat ${CONFIG_BEFORE_AUTO})" '' '[auto]' 'enabled = true' "window = $window" > ${CONFIG}; echo "$window"`,
  );
  const restore = () => vm.run(`mv -f ${CONFIG_BEFORE_AUTO} ${CONFIG}`);
  let result: T;
  try {
    result = await step(window.trim());
  } catch (error) {
    await restore().catch(() => undefined);
    throw error;
  }
  await restore();
  return result;
}

/**
 * Starts kernel-leap-auto.service as its timer does and waits for it (a oneshot):
 * its exit status and what this start of it wrote to the system journal, once
 * journald has read its decision line (the unit's stdout reaches it late).
 */
export async function startAutoService(vm: VmClient): Promise<{ status: number; said: string }> {
  const unit = 'kernel-leap-auto.service';
  // From a cursor taken before the start: a run that ends at once may have no invocation id left to ask for.
  const said = `journalctl -o cat --no-pager --after-cursor="$c" -u ${unit}`;
  const out = await vm.run(
    `c=$(journalctl -n 1 --show-cursor --no-pager -o cat | sed -n 's/^-- cursor: //p'); systemctl start ${unit} || true; echo "STATUS=$(systemctl show -p ExecMainStatus --value ${unit})"; for i in $(seq 50); do ${said} | grep -q '^auto: ' && break; sleep 0.2; done; ${said}`,
    { timeoutMs: 300_000 },
  );
  const status = /^STATUS=(\d+)$/m.exec(out)?.[1];
  if (status === undefined) throw new Error(`${unit}'s exit status is not in:\n${out}`);
  return { status: Number(status), said: out };
}

/** The run `latest` names, or none: a decision that starts nothing leaves it as it was. */
export async function latestRunId(vm: VmClient): Promise<string> {
  return (await vm.run('readlink /var/lib/kernel-leap/latest 2>/dev/null || true')).trim();
}
