/**
 * KVM or TCG. On the project's hosts /dev/kvm exists but QEMU with KVM aborts or
 * hangs (docs/criu-facts.md §18), so KVM must prove itself:
 * the kernel's first line on the serial console within a few seconds. The
 * answer is cached per host in the cache root, so later boots do not re-probe.
 */
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { hostname, release, tmpdir } from 'node:os';
import { join } from 'node:path';

import { pollUntil } from './poll.js';
import { cacheRoot, type VmImage } from './vm-image.js';
import { type Accel, isRunning, killQemuNow, qemuErrors, startQemu } from './vm-qemu.js';

const PROBE_MS = 6000;

export interface AccelChoice {
  accel: Accel;
  reason: string;
  cached: boolean;
}

interface SavedChoice {
  host: string;
  accel: Accel;
  reason: string;
}

/** KL_TESTBED_ACCEL=kvm|tcg forces the choice; otherwise the cached or probed one. */
export async function chooseAccel(image: VmImage): Promise<AccelChoice> {
  const forced = process.env.KL_TESTBED_ACCEL;
  if (forced === 'kvm' || forced === 'tcg')
    return { accel: forced, reason: 'forced by KL_TESTBED_ACCEL', cached: false };
  const file = join(cacheRoot(), 'accel.json');
  const host = hostIdentity();
  const saved = readSaved(file);
  if (saved?.host === host) return { accel: saved.accel, reason: saved.reason, cached: true };
  const probe = await probeKvm(image);
  const choice: SavedChoice = probe.ok
    ? { host, accel: 'kvm', reason: `KVM printed the kernel's first line in ${probe.ms} ms` }
    : { host, accel: 'tcg', reason: `KVM probe failed: ${probe.why}` };
  writeAtomically(file, `${JSON.stringify(choice, null, 2)}\n`);
  return { accel: choice.accel, reason: choice.reason, cached: false };
}

/** A QEMU or host kernel upgrade can change the answer, so both are part of the key. */
function hostIdentity(): string {
  return `${hostname()} ${release()} ${qemuVersion()}`;
}

/** QEMU's first line of `--version`, e.g. "QEMU emulator version 10.0.2 (Debian ...)". */
export function qemuVersion(): string {
  return execFileSync('qemu-system-x86_64', ['--version']).toString().split('\n')[0] ?? '';
}

function readSaved(file: string): SavedChoice | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as SavedChoice;
  } catch {
    return undefined;
  }
}

function writeAtomically(file: string, text: string): void {
  mkdirSync(cacheRoot(), { recursive: true });
  writeFileSync(`${file}.${process.pid}`, text);
  renameSync(`${file}.${process.pid}`, file);
}

type Probe = { ok: true; ms: number } | { ok: false; why: string };

/** Boots only the kernel (no disk, no network) and watches for its first line. */
async function probeKvm(image: VmImage): Promise<Probe> {
  if (!existsSync('/dev/kvm')) return { ok: false, why: 'no /dev/kvm' };
  const dir = mkdtempSync(join(tmpdir(), 'kl-kvm-probe-'));
  const serialLog = join(dir, 'serial.log');
  const started = Date.now();
  const pid = startQemu(
    { image: { ...image, cmdline: 'console=ttyS0' }, accel: 'kvm', serialLog, memoryMb: 512 },
    dir,
    false,
  );
  try {
    await pollUntil(
      () => {
        if (existsSync(serialLog) && readFileSync(serialLog, 'utf8').includes('Linux version'))
          return true;
        if (!isRunning(pid))
          throw new Error(
            `qemu exited: ${qemuErrors(dir).split('\n').slice(-3).join(' ') || 'no message'}`,
          );
        return undefined;
      },
      {
        timeoutMs: PROBE_MS,
        intervalMs: 100,
        what: "the kernel's first line on the serial console",
      },
    );
    return { ok: true, ms: Date.now() - started };
  } catch (error) {
    return { ok: false, why: (error as Error).message };
  } finally {
    killQemuNow(pid);
    rmSync(dir, { recursive: true, force: true });
  }
}
