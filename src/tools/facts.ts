/**
 * System facts. systeminformation spawns commands of its own, so it is used only
 * here. Kernels in /boot are read directly: si does not list them.
 */
import { existsSync, readdirSync, readFileSync, statfsSync } from 'node:fs';
import { join } from 'node:path';

export interface InstalledKernel {
  version: string;
  vmlinuz: string;
  initrd: string | undefined;
}

export interface HostFacts {
  kernel: string;
  distro: string;
  hostname: string;
  arch: string;
}

export async function hostFacts(): Promise<HostFacts> {
  // Loaded on demand: it is large, and every cold start of the CLI counts at boot.
  const { default: si } = await import('systeminformation');
  const os = await si.osInfo();
  return {
    kernel: os.kernel,
    distro: `${os.distro} ${os.release}`.trim(),
    hostname: os.hostname,
    arch: os.arch,
  };
}

/** The running kernel's release, as uname -r says it; `procSys` is /proc/sys (a scratch tree in tests). */
export function runningKernel(procSys: string): string {
  return readFileSync(join(procSys, 'kernel/osrelease'), 'utf8').trim();
}

export function installedKernels(bootDir = '/boot'): InstalledKernel[] {
  if (!existsSync(bootDir)) return [];
  return readdirSync(bootDir)
    .filter((name) => name.startsWith('vmlinuz-'))
    .map((name) => {
      const version = name.slice('vmlinuz-'.length);
      const initrd = join(bootDir, `initrd.img-${version}`);
      return {
        version,
        vmlinuz: join(bootDir, name),
        initrd: existsSync(initrd) ? initrd : undefined,
      };
    })
    .sort((a, b) => compareKernelVersions(a.version, b.version));
}

/**
 * The packages that ask for a reboot (`/run/reboot-required.pkgs`, one a line, as
 * Debian's postinst hooks append them), or undefined when no reboot is asked for.
 */
export function rebootRequiredBy(flag: string): string[] | undefined {
  if (!existsSync(flag)) return undefined;
  const list = `${flag}.pkgs`;
  if (!existsSync(list)) return [];
  return [
    ...new Set(
      readFileSync(list, 'utf8')
        .split('\n')
        .map((l) => l.trim()),
    ),
  ].filter(Boolean);
}

/** Orders "6.1.0-55-cloud-amd64" < "6.1.0-56-cloud-amd64" < "6.10.0-1" numerically. */
export function compareKernelVersions(a: string, b: string): number {
  const parts = (v: string) => v.split(/[.-]/).map((p) => (/^\d+$/.test(p) ? Number(p) : p));
  const pa = parts(a);
  const pb = parts(b);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? -1;
    const y = pb[i] ?? -1;
    if (x === y) continue;
    if (typeof x === 'number' && typeof y === 'number') return x - y;
    return String(x).localeCompare(String(y));
  }
  return 0;
}

/** Free bytes in the filesystem holding `path`, or of its nearest existing parent. */
export function freeBytes(path: string): { path: string; bytes: number } {
  let probe = path;
  while (!existsSync(probe) && probe !== '/') probe = join(probe, '..');
  const stats = statfsSync(probe);
  return { path: probe, bytes: stats.bavail * stats.bsize };
}
