#!/usr/bin/env bash
# Installs the Debian packages that the guest test bed, `npm run demo` and
# `npm test` need on the host, and only those that are missing. Silent when all
# are there; otherwise names what it installs. `npm run demo`, `npm test` and
# .ci/run call it first. Installing needs root; checking does not.
set -euo pipefail

# Package: what calls its tools.
APT_PACKAGES=(
  qemu-system-x86  # qemu-system-x86_64: every guest (test/helpers/vm-qemu.ts); >= QEMU_MIN, below
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
  ansible-lint     # ansible-lint (bookworm's 6.13): the role and playbook at the production profile (`npm run lint`, .ansible-lint)
  pyflakes3        # pyflakes3: the helper programs in helpers/*.py, which the bundle runs with python3 (`npm run lint`)
  dpkg-dev         # dpkg-shlibdeps, and binutils' strip: the package's Node (`npm run package`, scripts/deb.ts)
  grub-common      # grub-editenv: the GRUB one-shot fallback on a real environment block (test/integration/grub-fallback.test.ts)
  lintian          # lintian: the package passes it (test/integration/package.test.ts); brings man-db, whose man renders the manual page there
)
# Not listed: dash (/bin/sh for the launcher) and coreutils are Essential, and
# so is dpkg (dpkg-deb packs the .deb); python3, which crit needs, comes with
# criu. node and npm run this script.

# QEMU 7.2's TCG (Debian 12's own) stalls the guest for 80 to 173 s after every
# kexec, zeroing pages while it invalidates translated code; 10.0 does not, and
# halves a leap's downtime (docs/test-beds.md). Debian 12 has it in
# bookworm-backports, which this script adds for those two packages only.
QEMU_MIN='1:10.0'
QEMU_PACKAGES=(qemu-system-x86 qemu-utils)
BACKPORTS_SOURCE=/etc/apt/sources.list.d/kernel-leap-bookworm-backports.sources

say() { printf 'setup-host: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

command -v dpkg-query >/dev/null && command -v apt-get >/dev/null ||
  die "needs a Debian host (dpkg-query, apt-get); install by hand: ${APT_PACKAGES[*]}"

installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = 'install ok installed' ]; }

qemu_is_current() {
  local version
  version=$(dpkg-query -W -f='${Version}' qemu-system-x86 2>/dev/null) && dpkg --compare-versions "$version" ge "$QEMU_MIN"
}

codename() { . /etc/os-release && printf '%s' "${VERSION_CODENAME:-}"; }

# bookworm-backports as a deb822 source, unless a source already names it.
add_backports_source() {
  grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/ && return 0
  say "adding bookworm-backports to apt's sources ($BACKPORTS_SOURCE), for QEMU >= $QEMU_MIN"
  printf '%s\n' 'Types: deb' 'URIs: http://deb.debian.org/debian' 'Suites: bookworm-backports' \
    'Components: main' 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' >"$BACKPORTS_SOURCE"
}

missing=()
for pkg in "${APT_PACKAGES[@]}"; do installed "$pkg" || missing+=("$pkg"); done
qemu_from=''
if ! qemu_is_current; then
  case "$(codename)" in
    bookworm) qemu_from='bookworm-backports' ;;
    *) installed qemu-system-x86 && say "warning: QEMU older than $QEMU_MIN; guests will stall after each kexec" ;;
  esac
fi
if [ -n "$qemu_from" ]; then # installed by their own apt-get call below
  kept=()
  for pkg in "${missing[@]}"; do [[ " ${QEMU_PACKAGES[*]} " == *" $pkg "* ]] || kept+=("$pkg"); done
  missing=("${kept[@]}")
fi
[ "${#missing[@]}" -eq 0 ] && [ -z "$qemu_from" ] && exit 0

[ "$(id -u)" -eq 0 ] ||
  die "missing host packages: ${missing[*]}${qemu_from:+ ${QEMU_PACKAGES[*]} (>= $QEMU_MIN, from $qemu_from)}. Run as root: sudo bash scripts/setup-host.sh"

say "installing ${missing[*]}${qemu_from:+ ${QEMU_PACKAGES[*]} from $qemu_from} (apt-get)"
started=$SECONDS
log=$(mktemp /tmp/setup-host.XXXXXX.log)
before=$(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' | awk '$1 == "ii" { print $2 }' | sort)
export DEBIAN_FRONTEND=noninteractive
[ -n "$qemu_from" ] && add_backports_source
# An unreachable third-party source makes `apt-get update` exit non-zero even
# when Debian's lists came in; the install below is what must succeed.
apt-get -o DPkg::Lock::Timeout=300 update -q >>"$log" 2>&1 ||
  say "apt-get update reported errors (some sources unreachable?); trying the install anyway"
apt_install() {
  apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends "$@" >>"$log" 2>&1 && return 0
  tail -n 30 "$log" >&2
  die "apt-get install $* failed (whole log: $log)"
}
[ "${#missing[@]}" -gt 0 ] && apt_install "${missing[@]}"
if [ -n "$qemu_from" ]; then
  apt_install -t "$qemu_from" "${QEMU_PACKAGES[@]}"
  qemu_is_current || die "QEMU is still older than $QEMU_MIN after apt-get install -t $qemu_from"
fi
after=$(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' | awk '$1 == "ii" { print $2 }' | sort)
rm -f "$log"
for pkg in "${missing[@]}"; do installed "$pkg" || die "$pkg is still not installed after apt-get install"; done
say "installed ${missing[*]}${qemu_from:+ and QEMU from $qemu_from} with $(comm -13 <(echo "$before") <(echo "$after") | wc -l) packages in all, in $((SECONDS - started)) s"
