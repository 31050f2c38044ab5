#!/bin/bash
# Builds, once per machine, the Debian root that tests/system/test-systemd.sh
# boots with systemd-nspawn: debootstrap minbase with systemd and dbus, plus a
# libvirt layer (libvirtd, TCG QEMU, iproute2, dnsmasq-base) and the shared
# libraries vsimig's package depends on (the booted container has a private
# network, so dpkg -i there cannot fetch anything).  Cached as a .tar.zst
# under $VSM_ROOT_CACHE (/var/cache/vsimig-test), outside the repository;
# a no-op when the cache exists.  Takes ~2 min on a fresh machine (apt from
# the mirror in /etc/apt/sources.list.d/debian.sources).  As root.
set -euo pipefail

CACHE=${VSM_ROOT_CACHE:-/var/cache/vsimig-test}
# Bump when the package list changes: an old cache is then rebuilt.
ROOT_VERSION=1
OUT="$CACHE/root-bookworm-libvirt-v$ROOT_VERSION.tar.zst"

[ -s "$OUT" ] && exit 0

for t in debootstrap systemd-nspawn zstd; do
	command -v "$t" >/dev/null || { echo "mkroot: $t missing (tests/deps.sh installs it)" >&2; exit 1; }
done

MIRROR=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
[ -n "$MIRROR" ] || MIRROR=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
[ -n "$MIRROR" ] || MIRROR=http://deb.debian.org/debian

mkdir -p "$CACHE"
WORK=$(mktemp -d "$CACHE/build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
ROOT="$WORK/root"
t0=$(date +%s)
echo "mkroot: debootstrap bookworm (minbase, systemd, dbus) from $MIRROR"
debootstrap --variant=minbase --include=systemd,dbus,systemd-sysv bookworm "$ROOT" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 || {
	tail -20 "$WORK/debootstrap.log" >&2; exit 1; }

echo "mkroot: libvirt layer"
# A non-booted nspawn on the host's network, so apt works.  No recommends:
# the layer is what the test needs and nothing else.
systemd-nspawn -q -D "$ROOT" --register=no --keep-unit sh -c '
	set -e
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		libvirt-daemon-system qemu-system-x86 iproute2 dnsmasq-base \
		libglib2.0-0 libjson-glib-1.0-0 libnl-3-200 libnl-route-3-200 \
		libvirt0 libvirt-glib-1.0-0 libxml2 libsystemd0 procps
	apt-get clean
	rm -rf /var/lib/apt/lists/*
' >"$WORK/layer.log" 2>&1 || { tail -20 "$WORK/layer.log" >&2; exit 1; }

# A cached root carries no identity and no logs.
: >"$ROOT/etc/machine-id"
rm -rf "$ROOT"/var/log/journal/* "$ROOT"/var/cache/apt/*.bin
tar -C "$ROOT" -I 'zstd -T2 -10' -cf "$OUT.tmp" .
mv "$OUT.tmp" "$OUT"
echo "mkroot: $OUT ($(du -h "$OUT" | cut -f1)) in $(( $(date +%s) - t0 )) s"
