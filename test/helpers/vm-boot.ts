/**
 * bootGuest(): a disposable guest from the cached image, reachable over ssh when
 * the promise resolves. It starts from the bed's saved booted state (vm-booted.ts)
 * in seconds, unless `cold`; the first guest of a bed boots cold and saves it.
 * Its QEMU dies with the test process on every exit path, unless `detached`
 * (vm-cli up), where the caller owns its lifetime.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { requireCommand } from './require.js';
import { chooseAccel } from './vm-accel.js';
import { type BootedState, bootedState } from './vm-booted.js';
import { onProcessExit } from './vm-cleanup.js';
import { connectGuest, type VmClient } from './vm-client.js';
import { expectGrubBooted, powerOff, writeGrubConfig } from './vm-grub.js';
import { DEFAULT_DIST, type Dist, ensureImage, type VmImage } from './vm-image.js';
import {
  type Accel,
  type Boot,
  createOverlay,
  freePort,
  isRunning,
  killQemuNow,
  PID_FILE,
  qemuErrors,
  type QemuSpec,
  startQemu,
  stopQemu,
} from './vm-qemu.js';
import { rebootInPlace, resumeLoaded, saveAndQuit } from './vm-qmp.js';
import { execInGuest, setGuestClock, type VmConnection, waitForSsh } from './vm-ssh.js';

const PORT_ATTEMPTS = 3;
const DIR_PREFIX = 'kl-vm-';
const QMP_SOCKET = 'qmp.sock';

export interface BootOptions {
  /** The test bed: bookworm (the default) or trixie. */
  dist?: Dist;
  log?: (line: string) => void;
  /** Leave QEMU running when this process exits (vm-cli up); stop it with stopGuest(). */
  detached?: boolean;
  sshTimeoutMs?: number;
  /** Boot the image cold, not from the saved booted state (a benchmark of the boot itself). */
  cold?: boolean;
}

export interface Vm extends VmClient {
  image: VmImage;
  /** From QEMU's start to sshd's first answer: a boot, or a load of the booted state. */
  bootToSshMs: number;
  /** Started from the saved booted state rather than booted cold. */
  restored: boolean;
  stop(): Promise<void>;
  /**
   * A power cut: QEMU killed at once, with no shutdown and no flush beyond what the
   * guest synced, then the same disk booted cold again (its default, old kernel;
   * through GRUB after bootThroughGrub(), whatever grub.cfg and its one-shot say).
   * Resolves once sshd answers; the console of the cut boot is kept as serial.log.cut.
   */
  powerCut(): Promise<void>;
  /**
   * From now on a reboot of the guest (sysrq b, the reboot panic= makes) resets it
   * in place, as a real VM's does, instead of ending QEMU: the connections the
   * host holds through QEMU's network live on, and the same disk boots its
   * default, old kernel (after bootThroughGrub(), GRUB again, which boots its
   * one-shot entry or its default). Until the next powerCut(), which starts a
   * QEMU without it.
   */
  rebootInPlace(): Promise<void>;
  /** The guest's clock set to the host's again, after a test stepped it. */
  setClock(): Promise<void>;
  /**
   * Makes the guest a machine that boots through GRUB, as a BIOS VM does:
   * update-grub writes /boot/grub/grub.cfg (its default entry is the newest
   * kernel), grub-reboot makes the next boot `kernel` once (the old kernel
   * unless named, so the guest runs what the bed's guests run, and a leap has a
   * newer target), the guest powers off cleanly, and QEMU starts again on the
   * same disk, cold, with GRUB's core image as its -kernel. Resolves once sshd
   * answers and the guest runs `kernel` booted by GRUB. Every later boot of this
   * guest (a reboot in place, a power cut) goes through GRUB too. The console of
   * the boots before is kept as serial.log.before-grub.
   */
  bootThroughGrub(kernel?: string): Promise<GrubBoot>;
}

export interface GrubBoot {
  /** update-grub's time in the guest. */
  updateGrubMs: number;
  /** From QEMU's start with GRUB to sshd's first answer. */
  bootToSshMs: number;
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
  const saved = options.cold ? undefined : await savedState(image, accel.accel, options, log);
  const dir = mkdtempSync(join(tmpdir(), DIR_PREFIX));
  const guest: Started = {
    image,
    accel: accel.accel,
    boot: 'kernel',
    dir,
    pid: 0,
    detached: options.detached,
  };
  const forget = onProcessExit(() => {
    if (guest.pid) killQemuNow(guest.pid);
    rmSync(dir, { recursive: true, force: true });
  });
  try {
    const c = saved
      ? await loadOrBoot(guest, saved, options, log)
      : await startGuest(guest, undefined, options.sshTimeoutMs);
    log(
      `guest up: ssh -p ${c.port} root@127.0.0.1, pid ${c.pid}, ${seconds(c.upMs)} from start to sshd (${accel.accel}, ${c.restored ? `loaded from the booted state, clock set to the host's, ${c.clockOffsetMs} ms off` : 'booted cold'})`,
    );
    if (options.detached) forget();
    /** Starts QEMU again on the guest's own disk, cold, once the old one has ended; resolves when sshd answers. */
    const startAgain = async (consoleBefore: string): Promise<number> => {
      renameSync(c.serialLog, `${c.serialLog}.${consoleBefore}`);
      rmSync(join(dir, QMP_SOCKET), { force: true });
      const started = Date.now();
      guest.pid = c.pid = startQemu(qemuSpec(guest, c.disk, c.port), dir, guest.detached ?? false);
      await waitForSsh(c, options.sshTimeoutMs);
      return Date.now() - started;
    };
    const powerCut = async () => {
      await stopQemu(c.pid, ['SIGKILL']);
      await startAgain('cut');
      log(`guest up again after a power cut: pid ${guest.pid}`);
    };
    const bootThroughGrub = async (kernel = image.oldKernel): Promise<GrubBoot> => {
      const updateGrubMs = await writeGrubConfig(c, kernel);
      await powerOff(c);
      guest.boot = 'grub';
      const bootToSshMs = await startAgain('before-grub');
      await expectGrubBooted(c, kernel);
      log(
        `guest booted ${kernel} through GRUB: pid ${guest.pid}, ${seconds(bootToSshMs)} from start to sshd; update-grub took ${seconds(updateGrubMs)}`,
      );
      return { updateGrubMs, bootToSshMs };
    };
    return {
      ...connectGuest(c),
      image,
      bootToSshMs: c.upMs,
      restored: c.restored,
      stop: async () => (await stopGuest(c), forget()),
      powerCut,
      rebootInPlace: () => rebootInPlace(join(dir, QMP_SOCKET)),
      setClock: async () => void (await setGuestClock(c)),
      bootThroughGrub,
    };
  } catch (error) {
    killQemuNow(guest.pid);
    rmSync(dir, { recursive: true, force: true });
    forget();
    throw error;
  }
}

/**
 * A guest from the saved state; if QEMU cannot load it (a state it refuses,
 * a guest that does not answer), the log says why and the guest boots cold.
 */
async function loadOrBoot(
  guest: Started,
  saved: BootedState,
  options: BootOptions,
  log: (line: string) => void,
): Promise<StartedConnection> {
  try {
    return await startGuest(guest, saved, options.sshTimeoutMs);
  } catch (error) {
    log(`loading the booted state ${saved.dir} failed, booting cold: ${String(error)}`);
    await stopQemu(guest.pid, ['SIGKILL']);
    rmSync(join(guest.dir, 'overlay.qcow2'), { force: true });
    return startGuest(guest, undefined, options.sshTimeoutMs);
  }
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** What startGuest needs and keeps up to date: the pid, for the exit handler. */
interface Started {
  image: VmImage;
  accel: Accel;
  /** What QEMU's -kernel starts: the bed's old kernel, or GRUB once bootThroughGrub() ran. */
  boot: Boot;
  dir: string;
  pid: number;
  detached?: boolean;
}

interface StartedConnection extends VmConnection {
  disk: string;
  upMs: number;
  restored: boolean;
  /** After a load: the guest's clock minus the host's once set. */
  clockOffsetMs?: number;
}

function qemuSpec(guest: Started, disk: string, port: number, incoming?: string): QemuSpec {
  return {
    image: guest.image,
    accel: guest.accel,
    disk,
    port,
    serialLog: join(guest.dir, 'serial.log'),
    qmpSocket: join(guest.dir, QMP_SOCKET),
    incoming,
    boot: guest.boot,
  };
}

/**
 * Starts QEMU on a new overlay, booting the image cold or, given a saved state,
 * loading it; resolves once sshd answers on a forwarded port.
 */
async function startGuest(
  guest: Started,
  saved: BootedState | undefined,
  sshTimeoutMs: number | undefined,
): Promise<StartedConnection> {
  const disk = saved
    ? await createOverlay(guest.dir, saved.disk, 'qcow2')
    : await createOverlay(guest.dir, guest.image.disk, 'raw');
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const started = Date.now();
    rmSync(join(guest.dir, QMP_SOCKET), { force: true });
    guest.pid = startQemu(
      qemuSpec(guest, disk, port, saved?.ram),
      guest.dir,
      guest.detached ?? false,
    );
    const c: StartedConnection = {
      dist: guest.image.dist,
      port,
      key: guest.image.key,
      user: guest.image.user,
      sudoer: guest.image.sudoer,
      dir: guest.dir,
      serialLog: join(guest.dir, 'serial.log'),
      pid: guest.pid,
      accel: guest.accel,
      oldKernel: guest.image.oldKernel,
      newKernel: guest.image.newKernel,
      disk,
      upMs: 0,
      restored: saved !== undefined,
    };
    try {
      if (saved) await resumeLoaded(join(guest.dir, QMP_SOCKET));
      await waitForSsh(c, sshTimeoutMs);
    } catch (error) {
      // Another process took the port between freePort() and QEMU's bind.
      if (attempt < PORT_ATTEMPTS && /host forwarding rule/i.test(qemuErrors(guest.dir))) continue;
      throw error;
    }
    c.upMs = Date.now() - started;
    // A loaded guest's clock stands where it stood at the save; leaps compare it with the host's.
    if (saved) c.clockOffsetMs = await setGuestClock(c);
    return c;
  }
}

/**
 * The bed's booted state, saved now if this run is the first to ask; undefined
 * (and the guest boots cold) when it cannot be had, which the log says.
 */
async function savedState(
  image: VmImage,
  accel: Accel,
  options: BootOptions,
  log: (line: string) => void,
): Promise<BootedState | undefined> {
  const save = async (dir: string, state: BootedState) => {
    const guest: Started = { image, accel, boot: 'kernel', dir, pid: 0 };
    const forget = onProcessExit(() => guest.pid && killQemuNow(guest.pid));
    try {
      const started = Date.now();
      const c = await startGuest(guest, undefined, options.sshTimeoutMs);
      // Saved once the boot is over, so the guests loaded from it do not finish it again.
      await execInGuest(c, 'systemctl is-system-running --wait', { timeoutMs: 300_000 });
      const settled = Date.now();
      await saveAndQuit(join(dir, QMP_SOCKET), state.ram);
      await stopQemu(guest.pid);
      log(
        `${image.dist} booted state saved: sshd up ${seconds(c.upMs)} after QEMU's start, the boot over ${seconds(settled - started - c.upMs)} later, saved in ${seconds(Date.now() - settled)}`,
      );
    } finally {
      killQemuNow(guest.pid);
      forget();
    }
  };
  try {
    return await bootedState(image, accel, save);
  } catch (error) {
    log(`no booted state (${String(error)}): this guest boots cold`);
    return undefined;
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
