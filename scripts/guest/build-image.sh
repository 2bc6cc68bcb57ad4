#!/usr/bin/env bash
# Builds the QEMU guest image of one test bed unless a cached copy of this exact
# recipe exists, then prints the image's cache directory on stdout. Progress and
# timings go to stderr.
#
#   build-image.sh [bookworm|trixie]     (or KL_TESTBED_DIST; default bookworm)
#
# bookworm: Debian 12, kernels 6.1.0-55 and 6.1.0-56, CRIU 3.17.1, OpenSSH 9.2.
# trixie:   Debian 13, kernels 6.12.107 and 6.12.117, CRIU 4.1.1, OpenSSH 10.0.
# bookworm brings eth0 up with ifupdown and dhclient; trixie with systemd-networkd,
# and has NetworkManager installed but disabled, for the guest test that switches
# to it (test/helpers/network-stack.ts). Both: dbus and libpam-systemd (logind
# sessions), tmux (a session's detached server, carried by a leap), root and a
# non-root user (alice) logging in with the same ssh key, and an operator
# (deploy) who becomes root with sudo, as Ansible's `become: true` does it
# (test/guest/fleet.test.ts). No Node: the tests
# install kernel-leap's Debian package, which brings its own.
# GRUB as a BIOS machine has it (grub-common, grub2-common, grub-pc-bin, an
# /etc/default/grub for the serial console, the i386-pc modules in /boot/grub),
# but no grub.cfg: the guests boot QEMU's -kernel and see a machine without GRUB
# until a test runs update-grub and boots grub.lnx, GRUB's core image behind
# lnxboot.img, which QEMU's -kernel starts as it would a Linux kernel
# (test/helpers/vm-boot.ts, docs/testing.md "Booting through GRUB").
#
# The cache key is a hash of this file (which holds the package lists and every
# pinned version), the distribution and the mirrors, so any change to a recipe
# builds anew. KL_TESTBED_CACHE overrides the cache root; KL_TESTBED_MIRROR and
# KL_TESTBED_SECURITY_MIRROR override the mirrors taken from the host's apt.
# Needs root: debootstrap and chroot.
set -euo pipefail

log() { printf 'testbed: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

DIST=${1:-${KL_TESTBED_DIST:-bookworm}}
PACKAGES=(
  systemd-sysv openssh-server criu kexec-tools iptables
  dbus libpam-systemd lsof procps iproute2 udev kmod initramfs-tools linux-base python3
  tmux sudo grub-common grub2-common grub-pc-bin
)
case "$DIST" in
  bookworm)
    OLD_KERNEL=6.1.0-55-cloud-amd64
    NEW_KERNEL=6.1.0-56-cloud-amd64
    HOSTNAME_=kl-guest
    NETWORK=ifupdown
    PACKAGES+=(ifupdown isc-dhcp-client)
    ;;
  trixie)
    OLD_KERNEL=6.12.107+deb13-cloud-amd64
    NEW_KERNEL=6.12.117+deb13-cloud-amd64
    HOSTNAME_=kl-trixie
    NETWORK=networkd
    # CRIU 4 ships crit and pycriu in a package of their own, only recommended.
    PACKAGES+=(python3-pycriu network-manager)
    ;;
  *) die "unknown distribution '$DIST': use bookworm or trixie" ;;
esac
SUITE=$DIST
# Room for the images of a session holding 1 GiB (test/guest/faults.test.ts) beside
# what the system takes. The file is sparse: unused blocks cost nothing.
DISK_SIZE=4G
CMDLINE='console=ttyS0 root=/dev/vda rw net.ifnames=0'
# What update-grub adds after `root=UUID=... ro` (fstab remounts the root rw, as on any Debian machine).
GRUB_CMDLINE='console=ttyS0 net.ifnames=0'
# Built into GRUB's core image: the disk through the BIOS, the file system, the
# serial console, and what reads grub.cfg. The rest loads from /boot/grub/i386-pc.
GRUB_CORE_MODULES=(biosdisk part_msdos ext2 serial terminal normal configfile search echo test linux gzio loadenv)
USER_=alice
# Logs in with the same key and runs anything as root through sudo, without a password.
SUDOER_=deploy
# Timers that would take the dpkg lock or disk time in the middle of a test.
MASKED_UNITS=(apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer man-db.timer)

# Mirrors: the ones the host's apt uses, so the guest reaches the same one
# through QEMU's user network.
host_site() {
  apt-get indextargets --format '$(SITE) $(RELEASE)' 2>/dev/null | awk -v r="$1" '$2 == r { print $1; exit }'
}
MIRROR=${KL_TESTBED_MIRROR:-$(host_site "$SUITE")}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${KL_TESTBED_SECURITY_MIRROR:-$(host_site "$SUITE-security")}
SECURITY_MIRROR=${SECURITY_MIRROR:-http://deb.debian.org/debian-security}

CACHE_ROOT=${KL_TESTBED_CACHE:-/var/cache/kernel-leap-testbed}
HASH=$( { cat "${BASH_SOURCE[0]}"; echo "$SUITE $MIRROR $SECURITY_MIRROR"; } | sha256sum | cut -c1-16)
FINAL=$CACHE_ROOT/$HASH

if [ -f "$FINAL/manifest.json" ]; then echo "$FINAL"; exit 0; fi

[ "$(id -u)" -eq 0 ] || die "building the guest image needs root (debootstrap, chroot)"
for tool in debootstrap:debootstrap mkfs.ext4:e2fsprogs ssh-keygen:openssh-client flock:util-linux; do
  command -v "${tool%%:*}" >/dev/null || die "${tool%%:*} is missing: apt-get install ${tool#*:}"
done

mkdir -p "$CACHE_ROOT"
# One builder per recipe at a time; a waiter finds the finished image.
exec 9>"$CACHE_ROOT/.lock-$HASH"
flock 9
if [ -f "$FINAL/manifest.json" ]; then echo "$FINAL"; exit 0; fi

WORK=$(mktemp -d "$CACHE_ROOT/.build-$HASH.XXXXXX")
ROOTFS=$WORK/rootfs
OUT=$WORK/out
BUILD_LOG=$WORK/build.log
mkdir -p "$OUT"

# Everything mounted under the rootfs, deepest first (debootstrap itself can
# leave /proc or /sys mounted when it fails).
mounts_under_rootfs() {
  findmnt -rn -o TARGET | awk -v r="$ROOTFS" 'index($0, r "/") == 1' | sort -r
}
unmount_rootfs() {
  local target
  for target in $(mounts_under_rootfs); do
    umount "$target" 2>/dev/null || umount -l "$target"
  done
}
cleanup() {
  unmount_rootfs
  # --one-file-system: never follow a bind mount back into the host's /dev.
  if [ -z "$(mounts_under_rootfs)" ]; then rm -rf --one-file-system "$WORK"; else log "left $WORK: mounts remain"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Runs one named step, its output into the build log; on failure shows the log's tail.
step() {
  local name=$1 started=$SECONDS
  shift
  log "$name..."
  # A subshell outside any `if`, so that set -e holds inside the step.
  set +e
  (set -e; "$@") >>"$BUILD_LOG" 2>&1
  local status=$?
  set -e
  if [ "$status" -ne 0 ]; then
    tail -n 30 "$BUILD_LOG" >&2
    die "$name failed (log above)"
  fi
  TIMINGS+=("\"$name\": $((SECONDS - started))")
}

in_chroot() { chroot "$ROOTFS" /usr/bin/env DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 "$@"; }

mount_chroot() {
  mount -t proc proc "$ROOTFS/proc"
  mount -t sysfs sys "$ROOTFS/sys"
  mount --bind /dev "$ROOTFS/dev"
}

write_apt_sources() {
  cat >"$ROOTFS/etc/apt/sources.list" <<APT
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb $SECURITY_MIRROR $SUITE-security main
APT
  cp -L /etc/resolv.conf "$ROOTFS/etc/resolv.conf"
}

# The kernels may live in <suite>-security, which debootstrap does not read. The
# newer one's package is kept beside the image: a test installs it again with apt
# while a session runs, as a kernel update arrives (test/guest/session-scope.test.ts).
install_kernels() {
  in_chroot apt-get update -q
  in_chroot sh -c "cd /tmp && apt-get download linux-image-$OLD_KERNEL linux-image-$NEW_KERNEL"
  cp "$ROOTFS"/tmp/linux-image-"$NEW_KERNEL"_*.deb "$OUT/new-kernel.deb"
  in_chroot sh -c "dpkg -i /tmp/linux-image-*.deb && rm /tmp/linux-image-*.deb"
  for version in "$OLD_KERNEL" "$NEW_KERNEL"; do
    [ -f "$ROOTFS/boot/vmlinuz-$version" ] && [ -f "$ROOTFS/boot/initrd.img-$version" ] || { echo "no kernel or initrd for $version"; return 1; }
  done
}

# eth0 over DHCP, as each stack configures it (net.ifnames=0 on the kernel
# command line keeps the name eth0).
configure_network_ifupdown() {
  printf 'auto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet dhcp\n' >"$ROOTFS/etc/network/interfaces"
}

configure_network_networkd() {
  printf '[Match]\nName=eth0\n\n[Network]\nDHCP=ipv4\n' >"$ROOTFS/etc/systemd/network/20-eth0.network"
  systemctl --root="$ROOTFS" enable systemd-networkd.service
  # NetworkManager's connection for eth0 (keyfiles must be 0600), and the
  # package's units off: its postinst enabled them.
  install -d -m 0755 "$ROOTFS/etc/NetworkManager/system-connections"
  printf '[connection]\nid=eth0\ntype=ethernet\ninterface-name=eth0\n\n[ipv4]\nmethod=auto\n' \
    >"$ROOTFS/etc/NetworkManager/system-connections/eth0.nmconnection"
  chmod 0600 "$ROOTFS/etc/NetworkManager/system-connections/eth0.nmconnection"
  systemctl --root="$ROOTFS" disable NetworkManager.service NetworkManager-wait-online.service NetworkManager-dispatcher.service
}

configure_guest() {
  echo "$HOSTNAME_" >"$ROOTFS/etc/hostname"
  printf '127.0.0.1 localhost\n127.0.1.1 %s\n' "$HOSTNAME_" >"$ROOTFS/etc/hosts"
  echo '/dev/vda / ext4 rw,errors=remount-ro 0 1' >"$ROOTFS/etc/fstab"
  configure_network_$NETWORK
  printf 'PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n' \
    >"$ROOTFS/etc/ssh/sshd_config.d/10-testbed.conf"
  ssh-keygen -q -t ed25519 -N '' -C kl-testbed -f "$OUT/id_ed25519"
  install -d -m 0700 "$ROOTFS/root/.ssh"
  install -m 0600 "$OUT/id_ed25519.pub" "$ROOTFS/root/.ssh/authorized_keys"
  # A non-root login runs under privilege separation (`sshd: alice [priv]` above her session).
  in_chroot useradd --create-home --shell /bin/bash "$USER_"
  install -d -m 0700 "$ROOTFS/home/$USER_/.ssh"
  install -m 0600 "$OUT/id_ed25519.pub" "$ROOTFS/home/$USER_/.ssh/authorized_keys"
  in_chroot chown -R "$USER_:$USER_" "/home/$USER_/.ssh"
  in_chroot useradd --create-home --shell /bin/bash "$SUDOER_"
  install -d -m 0700 "$ROOTFS/home/$SUDOER_/.ssh"
  install -m 0600 "$OUT/id_ed25519.pub" "$ROOTFS/home/$SUDOER_/.ssh/authorized_keys"
  in_chroot chown -R "$SUDOER_:$SUDOER_" "/home/$SUDOER_/.ssh"
  printf '%s ALL=(ALL:ALL) NOPASSWD: ALL\n' "$SUDOER_" >"$ROOTFS/etc/sudoers.d/$SUDOER_"
  chmod 0440 "$ROOTFS/etc/sudoers.d/$SUDOER_"
  systemctl --root="$ROOTFS" mask "${MASKED_UNITS[@]}"
  # The guest's stack writes its own resolv.conf, or none; the host's means nothing there.
  : >"$ROOTFS/etc/resolv.conf"
  in_chroot apt-get clean
  # apt's cache of the package lists, as on any machine where apt has run: without
  # it, the first apt-get in each guest (the tests' install of the .deb) spends
  # most of its time under TCG parsing the lists.
  in_chroot apt-cache gencaches
}

# What grub-install would leave on a BIOS machine whose disk has no partition
# table and no room for a boot sector's core image: the modules in /boot/grub,
# a config for grub-mkconfig, and (outside the disk) the core image that finds
# the disk through the BIOS as hd0 with its prefix /boot/grub, so that
# grub.cfg's load_env and save_env use /boot/grub/grubenv as on any machine.
# No grub.cfg, and nothing may have written one (a kernel's postinst hook runs
# update-grub only when it exists).
install_grub() {
  [ ! -e "$ROOTFS/boot/grub/grub.cfg" ] || { echo "something wrote /boot/grub/grub.cfg"; return 1; }
  install -d "$ROOTFS/boot/grub/i386-pc"
  cp "$ROOTFS"/usr/lib/grub/i386-pc/*.mod "$ROOTFS"/usr/lib/grub/i386-pc/*.lst "$ROOTFS/boot/grub/i386-pc/"
  cat >"$ROOTFS/etc/default/grub" <<GRUB
GRUB_DEFAULT=0
GRUB_TIMEOUT=0
GRUB_DISTRIBUTOR=\`lsb_release -i -s 2> /dev/null || echo Debian\`
GRUB_CMDLINE_LINUX_DEFAULT=""
GRUB_CMDLINE_LINUX="$GRUB_CMDLINE"
GRUB_TERMINAL=serial
GRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"
GRUB
  # Until grub.cfg sets its terminal, GRUB's own messages go to the serial console too.
  cat >"$ROOTFS/tmp/grub-early.cfg" <<'CFG'
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
CFG
  in_chroot grub-mkimage -O i386-pc -p '(hd0)/boot/grub' -c /tmp/grub-early.cfg \
    -o /tmp/core.img "${GRUB_CORE_MODULES[@]}"
  cat "$ROOTFS/usr/lib/grub/i386-pc/lnxboot.img" "$ROOTFS/tmp/core.img" >"$OUT/grub.lnx"
  rm "$ROOTFS/tmp/grub-early.cfg" "$ROOTFS/tmp/core.img"
}

make_disk() {
  [ ! -e "$ROOTFS/boot/grub/grub.cfg" ] || { echo "something wrote /boot/grub/grub.cfg"; return 1; }
  cp "$ROOTFS/boot/vmlinuz-$OLD_KERNEL" "$ROOTFS/boot/initrd.img-$OLD_KERNEL" "$OUT/"
  mkfs.ext4 -q -F -d "$ROOTFS" "$OUT/base.img" "$DISK_SIZE"
}

write_manifest() {
  local IFS=,
  cat >"$OUT/manifest.json" <<JSON
{
  "hash": "$HASH",
  "dist": "$DIST",
  "user": "$USER_",
  "sudoer": "$SUDOER_",
  "oldKernel": "$OLD_KERNEL",
  "newKernel": "$NEW_KERNEL",
  "cmdline": "$CMDLINE",
  "grub": "grub.lnx",
  "mirror": "$MIRROR",
  "builtAt": "$(date -u +%FT%TZ)",
  "buildSeconds": $SECONDS,
  "stepSeconds": {${TIMINGS[*]}}
}
JSON
}

TIMINGS=()
SECONDS=0
log "building image $HASH in $WORK (cold build; log: $BUILD_LOG)"
step debootstrap debootstrap --variant=minbase --components=main \
  --include="$(IFS=,; echo "${PACKAGES[*]}")" "$SUITE" "$ROOTFS" "$MIRROR"
write_apt_sources
step mount mount_chroot
step kernels install_kernels
step configure configure_guest
step grub install_grub
unmount_rootfs
[ -z "$(mounts_under_rootfs)" ] || die "could not unmount everything under $ROOTFS"
step disk make_disk
cp "$BUILD_LOG" "$OUT/build.log"
write_manifest
# Publish atomically: a reader sees the whole image or none of it.
mv -T "$OUT" "$FINAL"
log "cold build took $SECONDS s ($(IFS=,; echo "${TIMINGS[*]}" | tr -d '"'))"
echo "$FINAL"
