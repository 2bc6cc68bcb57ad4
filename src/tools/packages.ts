/** Which Debian package provides each external tool, for "tool missing" hints. */
const PACKAGES: Record<string, string> = {
  criu: 'criu',
  crit: 'criu',
  kexec: 'kexec-tools',
  iptables: 'iptables',
  'iptables-save': 'iptables',
  'iptables-restore': 'iptables',
  ip6tables: 'iptables',
  nft: 'nftables',
  unshare: 'util-linux',
  nsenter: 'util-linux',
  systemctl: 'systemd',
  'systemd-run': 'systemd',
  'systemd-analyze': 'systemd',
  'systemd-tmpfiles': 'systemd',
  ifquery: 'ifupdown',
  networkctl: 'systemd',
  nmcli: 'network-manager',
  ss: 'iproute2',
  ip: 'iproute2',
  sync: 'coreutils',
  gzip: 'gzip',
  zstd: 'zstd',
  xz: 'xz-utils',
  lz4: 'lz4',
  bzip2: 'bzip2',
  lzop: 'lzop',
  'qemu-system-x86_64': 'qemu-system-x86',
  'qemu-img': 'qemu-utils',
  debootstrap: 'debootstrap',
  ssh: 'openssh-client',
  scp: 'openssh-client',
};

export function packageFor(tool: string): string | undefined {
  return PACKAGES[tool.split('/').pop() ?? tool];
}
