#!/usr/bin/env bash
# Installs the Debian packages that the guest test bed, `npm run demo` and
# `npm test` need on the host, and only those that are missing. Silent when all
# are there; otherwise names what it installs. `npm run demo`, `npm test` and
# .ci/run call it first. Installing needs root; checking does not.
set -euo pipefail

# Package: what calls its tools.
APT_PACKAGES=(
  qemu-system-x86  # qemu-system-x86_64: every guest (test/helpers/vm-qemu.ts)
  qemu-utils       # qemu-img: each guest's overlay disk (vm-qemu.ts)
  debootstrap      # the guest image's root file system (scripts/guest/build-image.sh)
  e2fsprogs        # mkfs.ext4: the guest image's disk (build-image.sh)
  openssh-client   # ssh-keygen (build-image.sh); ssh, scp to the guest (vm-ssh.ts, vm-session.ts)
  util-linux       # flock, findmnt (build-image.sh); setpriv (vm-qemu.ts)
  mount            # mount, umount of the chroot's /proc, /sys, /dev (build-image.sh)
  criu             # criu, crit: `check` on this host (test/integration/check.test.ts)
  kexec-tools      # kexec: `check`'s tool probes (check.test.ts)
  iptables         # iptables-save, iptables-restore: `check`'s tool probes (check.test.ts)
  systemd          # systemd-analyze verify of the rendered units (units-verify.test.ts)
  ansible-core     # ansible-playbook: the fleet role and playbook (ansible/; test/integration/ansible-role.test.ts, test/guest/fleet.test.ts)
)
# Not listed: dash (/bin/sh for the launcher) and coreutils are Essential;
# python3, which crit needs, comes with criu. node and npm run this script.

say() { printf 'setup-host: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

command -v dpkg-query >/dev/null && command -v apt-get >/dev/null ||
  die "needs a Debian host (dpkg-query, apt-get); install by hand: ${APT_PACKAGES[*]}"

installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = 'install ok installed' ]; }

missing=()
for pkg in "${APT_PACKAGES[@]}"; do installed "$pkg" || missing+=("$pkg"); done
[ "${#missing[@]}" -eq 0 ] && exit 0

[ "$(id -u)" -eq 0 ] ||
  die "missing host packages: ${missing[*]}. Run as root (sudo bash scripts/setup-host.sh) or: apt-get install ${missing[*]}"

say "installing ${missing[*]} (apt-get)"
started=$SECONDS
log=$(mktemp /tmp/setup-host.XXXXXX.log)
before=$(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' | awk '$1 == "ii" { print $2 }' | sort)
export DEBIAN_FRONTEND=noninteractive
# An unreachable third-party source makes `apt-get update` exit non-zero even
# when Debian's lists came in; the install below is what must succeed.
apt-get -o DPkg::Lock::Timeout=300 update -q >>"$log" 2>&1 ||
  say "apt-get update reported errors (some sources unreachable?); trying the install anyway"
if ! apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends "${missing[@]}" >>"$log" 2>&1; then
  tail -n 30 "$log" >&2
  die "apt-get install failed (whole log: $log)"
fi
after=$(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' | awk '$1 == "ii" { print $2 }' | sort)
rm -f "$log"
for pkg in "${missing[@]}"; do installed "$pkg" || die "$pkg is still not installed after apt-get install"; done
say "installed ${missing[*]} with $(comm -13 <(echo "$before") <(echo "$after") | wc -l) packages in all, in $((SECONDS - started)) s"
