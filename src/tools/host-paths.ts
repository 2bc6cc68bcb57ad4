/**
 * Where on this host the steps read and write outside the state dir. One object,
 * so that the flows can run in-process on a scratch tree in the fast tests.
 */
export interface HostPaths {
  /** Units for the next boot are installed here. */
  unitDir: string;
  /** Where ifupdown brings interfaces up, the lock rules also load from this pre-up hook. */
  ifupdownHook: string;
  /** Written by the rules unit or hook once the lock rules are in force. */
  rulesMarker: string;
  /** Kernels (vmlinuz-*, initrd.img-*). */
  boot: string;
  kexecLoaded: string;
  /** /proc, where the shell scripts read processes (the resume walks the restored trees there). */
  proc: string;
  /** This boot's kernel command line. */
  procCmdline: string;
  /** This boot's id: what the boot's shell scripts took is told apart from an earlier boot's. */
  procBootId: string;
  procSys: string;
  /** A kernel setting's value from before kernel-leap changed it, one file per key, until it is put back. */
  savedSysctls: string;
  /** Held while a restore makes paths (FIFOs, socket directories, held files): restores side by side take turns. */
  pathsLock: string;
  /** udev's database: an interface's entry (`n<ifindex>`) is there once udev has named it and run its rules. */
  udevData: string;
  /** Debian's flag that the machine asks for a reboot; `<it>.pkgs` names the packages that ask. */
  rebootRequired: string;
}

export const HOST_PATHS: HostPaths = {
  unitDir: '/etc/systemd/system',
  ifupdownHook: '/etc/network/if-pre-up.d/kernel-leap',
  rulesMarker: '/run/kernel-leap/rules-loaded',
  boot: '/boot',
  kexecLoaded: '/sys/kernel/kexec_loaded',
  proc: '/proc',
  procCmdline: '/proc/cmdline',
  procBootId: '/proc/sys/kernel/random/boot_id',
  procSys: '/proc/sys',
  savedSysctls: '/run/kernel-leap/sysctl',
  pathsLock: '/run/kernel-leap/paths.lock',
  udevData: '/run/udev/data',
  rebootRequired: '/run/reboot-required',
};
