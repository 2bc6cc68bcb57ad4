/**
 * bootGuest(): a disposable guest from the cached image, reachable over ssh when
 * the promise resolves. Its QEMU dies with the test process on every exit path,
 * unless `detached` (vm-cli up), where the caller owns its lifetime.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { requireCommand } from './require.js';
import { chooseAccel } from './vm-accel.js';
import { onProcessExit } from './vm-cleanup.js';
import { connectGuest, type VmClient } from './vm-client.js';
import { DEFAULT_DIST, type Dist, ensureImage, type VmImage } from './vm-image.js';
import {
  createOverlay,
  freePort,
  isRunning,
  killQemuNow,
  PID_FILE,
  qemuErrors,
  startQemu,
  stopQemu,
} from './vm-qemu.js';
import { type VmConnection, waitForSsh } from './vm-ssh.js';

const PORT_ATTEMPTS = 3;
const DIR_PREFIX = 'kl-vm-';

export interface BootOptions {
  /** The test bed: bookworm (the default) or trixie. */
  dist?: Dist;
  log?: (line: string) => void;
  /** Leave QEMU running when this process exits (vm-cli up); stop it with stopGuest(). */
  detached?: boolean;
  sshTimeoutMs?: number;
}

export interface Vm extends VmClient {
  image: VmImage;
  /** From QEMU's start to sshd's first answer. */
  bootToSshMs: number;
  stop(): Promise<void>;
  /**
   * A power cut: QEMU killed at once, with no shutdown and no flush beyond what the
   * guest synced, then the same disk booted cold again (its default, old kernel).
   * Resolves once sshd answers; the console of the cut boot is kept as serial.log.cut.
   */
  powerCut(): Promise<void>;
}

/** Fails loudly, naming the package, when the host lacks what a guest needs. */
export function requireGuestTools(): void {
  requireCommand('qemu-system-x86_64', 'qemu-system-x86');
  requireCommand('qemu-img', 'qemu-utils');
  requireCommand('ssh', 'openssh-client');
  requireCommand('setpriv', 'util-linux');
}

export async function bootGuest(options: BootOptions = {}): Promise<Vm> {
  const log = options.log ?? (() => undefined);
  requireGuestTools();
  sweepDeadGuests();
  const image = await ensureImage(options.dist ?? DEFAULT_DIST);
  log(
    image.built
      ? `${image.dist} image built cold in ${image.buildSeconds} s: ${image.dir}`
      : `${image.dist} image cached: ${image.dir}`,
  );
  const accel = await chooseAccel(image);
  log(`accel ${accel.accel}${accel.cached ? ' (cached)' : ''}: ${accel.reason}`);
  const dir = mkdtempSync(join(tmpdir(), DIR_PREFIX));
  let pid = 0;
  const forget = onProcessExit(() => {
    if (pid) killQemuNow(pid);
    rmSync(dir, { recursive: true, force: true });
  });
  try {
    const disk = await createOverlay(image, dir);
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const started = Date.now();
      pid = startQemu(
        { image, accel: accel.accel, disk, port, serialLog: join(dir, 'serial.log') },
        dir,
        options.detached ?? false,
      );
      const c: VmConnection = {
        dist: image.dist,
        port,
        key: image.key,
        user: image.user,
        dir,
        serialLog: join(dir, 'serial.log'),
        pid,
        accel: accel.accel,
        oldKernel: image.oldKernel,
        newKernel: image.newKernel,
      };
      try {
        await waitForSsh(c, options.sshTimeoutMs);
      } catch (error) {
        // Another process took the port between freePort() and QEMU's bind.
        if (attempt < PORT_ATTEMPTS && /host forwarding rule/i.test(qemuErrors(dir))) continue;
        throw error;
      }
      const bootToSshMs = Date.now() - started;
      log(
        `guest up: ssh -p ${port} root@127.0.0.1, pid ${pid}, ${(bootToSshMs / 1000).toFixed(1)} s from start to sshd (${accel.accel})`,
      );
      if (options.detached) forget();
      const powerCut = async () => {
        await stopQemu(c.pid, ['SIGKILL']);
        renameSync(c.serialLog, `${c.serialLog}.cut`);
        pid = c.pid = startQemu(
          { image, accel: accel.accel, disk, port, serialLog: c.serialLog },
          dir,
          options.detached ?? false,
        );
        await waitForSsh(c, options.sshTimeoutMs);
        log(`guest up again after a power cut: pid ${pid}`);
      };
      return {
        ...connectGuest(c),
        image,
        bootToSshMs,
        stop: async () => (await stopGuest(c), forget()),
        powerCut,
      };
    }
  } catch (error) {
    killQemuNow(pid);
    rmSync(dir, { recursive: true, force: true });
    forget();
    throw error;
  }
}

/**
 * A test process killed with SIGKILL cannot clean up: setpriv's death signal
 * ends its QEMU, but the dir (a grown overlay) stays. Removes such dirs.
 */
function sweepDeadGuests(): void {
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith(DIR_PREFIX)) continue;
    const pidFile = join(tmpdir(), name, PID_FILE);
    const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8')) : 0;
    if (pid > 0 && !isRunning(pid)) rmSync(join(tmpdir(), name), { recursive: true, force: true });
  }
}

/** Stops QEMU and removes the guest's temp dir (overlay, logs). */
export async function stopGuest(c: VmConnection): Promise<void> {
  await stopQemu(c.pid);
  rmSync(c.dir, { recursive: true, force: true });
}
