#!/bin/bash
# Installs what vsimig needs to build and to run its tests and demo on
# Debian 12 (as root), then builds into ./build.  Idempotent: apt is only
# asked when a package is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(
  # build
  build-essential meson ninja-build pkg-config
  libglib2.0-dev libjson-glib-dev libnl-3-dev libnl-route-3-dev
  libvirt-dev libvirt-glib-1.0-dev libxml2-dev
  # the conntrack carry (src/io/conntrack.c); conntrack(8) for its tests
  libnetfilter-conntrack-dev libmnl-dev conntrack
  # real peers and tools for the tests and the demo
  lldpad tshark tcpdump iproute2 util-linux procps
  libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86 qemu-utils
  # the state-carry test (test-carry.sh): DHCP servers, the guest's busybox,
  # nft to cut the peer channel, python3 for the pcap checks
  dnsmasq-base isc-dhcp-server busybox-static nftables python3
  # TLS on the peer channel: GIO's TLS backend, and openssl to make the
  # throwaway CA and certificates of test-peer
  glib-networking openssl
  # the conntrack benchmark's reference (tests/bench/conntrack)
  conntrackd
  # sanitizers and fuzzers
  clang
  # the Debian package and the real-systemd test (tests/system): sd_notify,
  # dpkg-buildpackage with dh, lintian, a booted systemd-nspawn container
  # of a debootstrapped root cached as .tar.zst
  libsystemd-dev debhelper lintian systemd-container debootstrap zstd
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # tshark asks whether non-root users may capture; the answer does not matter here.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  apt-get update -qq
  # Start no service while installing (isc-dhcp-server's postinst would
  # start dhcpd on a machine with an init system): a temporary
  # policy-rc.d that denies every start, unless the machine has its own.
  own_policy=1
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    own_policy=0
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 0755 /usr/sbin/policy-rc.d
  fi
  rc=0
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || rc=$?
  [ "$own_policy" = 1 ] || rm -f /usr/sbin/policy-rc.d
  [ "$rc" = 0 ] || exit "$rc"
fi

BUILD=${VSM_BUILD_DIR:-build}
if [ ! -f "$BUILD/build.ninja" ]; then
  meson setup "$BUILD" >/dev/null
fi
ninja -C "$BUILD" >/dev/null

# The container root of tests/system/test-systemd.sh: built once per
# machine (~2 min), cached in /var/cache/vsimig-test; a no-op afterwards.
bash tests/system/mkroot.sh
