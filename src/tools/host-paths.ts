/**
 * Where on this host the steps read and write outside the state dir. One object,
 * so that the flows can run in-process on a scratch tree in the fast tests.
 */
export interface HostPaths {
  /** Units for the next boot are installed here. */
  unitDir: string;
  /** Present on ifupdown systems: the lock rules then also load from a pre-up hook. */
  networkInterfaces: string;
  ifupdownHook: string;
  /** Written by the rules unit or hook once the lock rules are in force. */
  rulesMarker: string;
  /** Kernels (vmlinuz-*, initrd.img-*). */
  boot: string;
  kexecLoaded: string;
  procSys: string;
  /** A kernel setting's value from before kernel-leap changed it, one file per key, until it is put back. */
  savedSysctls: string;
}

export const HOST_PATHS: HostPaths = {
  unitDir: '/etc/systemd/system',
  networkInterfaces: '/etc/network/interfaces',
  ifupdownHook: '/etc/network/if-pre-up.d/kernel-leap',
  rulesMarker: '/run/kernel-leap/rules-loaded',
  boot: '/boot',
  kexecLoaded: '/sys/kernel/kexec_loaded',
  procSys: '/proc/sys',
  savedSysctls: '/run/kernel-leap/sysctl',
};
