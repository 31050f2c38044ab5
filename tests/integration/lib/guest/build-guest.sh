#!/bin/bash
#
# build-guest.sh - build the small Linux guest of the migration testbed
# (DESIGN.md §6) from Debian packages only.
#
# Usage: build-guest.sh [-f] [-q] OUTDIR
#   -f   rebuild even if OUTDIR is up to date
#   -q   print only the final status line
#
# Produces in OUTDIR:
#   vmlinuz        the kernel of Debian's linux-image-amd64 (its current
#                  dependency, e.g. linux-image-6.1.0-56-amd64)
#   initrd.gz      initramfs (newc cpio, gzip): busybox-static, /init
#                  (init.sh), /etc/udhcpc.script, mcjoin and vsmspoof
#                  (static; vsmspoof.c: the hostile guest's claims), ctflows
#                  (static; ctflows.c: test-conntrack's long-lived flows), and only
#                  the modules virtio_net and virtio_pci need, with their
#                  dependencies resolved from the kernel's modules.dep
#   mcjoin         the same static mcjoin, for the host side (sender, ctl)
#   manifest       key=value: key, kernel_pkg, kernel_version, busybox,
#                  modules (load order), sizes, build time
#   cache/*.deb    the downloaded kernel package (kept for rebuilds)
#
# Idempotent and cached: the inputs (this script, init.sh, udhcpc.script,
# mcjoin.c, vsmspoof.c, ctflows.c, the kernel package name + version apt would download, the
# busybox-static version, the compiler version) are hashed into a key;
# when OUTDIR/manifest has the same key and the artefacts exist, nothing
# is rebuilt.  Safe to run concurrently for the same OUTDIR (flock).
#
# Installs busybox-static if missing (apt-get, --no-install-recommends).
# The kernel package is NOT installed (that would run initramfs-tools and
# write /boot): it is fetched with `apt-get download` and unpacked into a
# temporary directory.  GUEST_KERNEL_DEB=/path/to/linux-image-*.deb uses
# that file instead (no apt lookup for the kernel).
#
# Last line on stdout: "guest: cached OUTDIR (...)" or "guest: built
# OUTDIR in N ms (...)".  Exit 0 ok, 1 failure.

set -euo pipefail

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
force=0 quiet=0
while getopts fq o; do
	case $o in
	f) force=1 ;;
	q) quiet=1 ;;
	*) sed -n '3,10p' "$0" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[[ $# == 1 ]] || { sed -n '3,10p' "$0" >&2; exit 2; }
out=$1

# Root modules: everything else comes from modules.dep.
ROOT_MODULES=(virtio_pci virtio_net)

log() { ((quiet)) || printf '[build-guest] %s\n' "$*" >&2; }
die() { printf '[build-guest] ERROR: %s\n' "$*" >&2; exit 1; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

t0=$(now_ms)
mkdir -p "$out"
out=$(cd -- "$out" && pwd)

# One build per OUTDIR at a time.
exec 9>"$out/.lock"
flock 9

apt_install() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	((${#missing[@]})) || return 0
	log "installing ${missing[*]}"
	# Another apt may hold the lock: wait for it.
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y \
		--no-install-recommends "${missing[@]}" >"$out/apt.log" 2>&1 ||
		{ tail -20 "$out/apt.log" >&2; die "apt-get install ${missing[*]} failed"; }
}

for tool in cc gzip sha256sum flock dpkg-deb; do
	command -v "$tool" >/dev/null || die "missing tool: $tool"
done
apt_install busybox-static
BB=/bin/busybox
[[ -x $BB ]] || die "$BB missing after installing busybox-static"

# ---- the kernel package
kdeb=${GUEST_KERNEL_DEB:-}
if [[ -n $kdeb ]]; then
	[[ -f $kdeb ]] || die "GUEST_KERNEL_DEB=$kdeb: no such file"
	kpkg=$(dpkg-deb -f "$kdeb" Package)
	kver=$(dpkg-deb -f "$kdeb" Version)
else
	# apt-cache takes ~2 s: ask it only when the apt lists changed since
	# the last build (the answer cannot have changed otherwise).
	lists=$(stat -c %Y /var/lib/apt/lists/*Packages* 2>/dev/null | sort -n | tail -n 1)
	kpkg='' kver=''
	if [[ -n $lists && -s $out/manifest ]] && grep -qx "apt_lists_mtime=$lists" "$out/manifest"; then
		kpkg=$(sed -n 's/^kernel_pkg=//p' "$out/manifest")
		kver=$(sed -n 's/^kernel_pkg_version=//p' "$out/manifest")
	fi
fi
if [[ -z $kdeb && ( -z $kpkg || -z $kver ) ]]; then
	kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -n 1)
	kver=
	[[ -n $kpkg ]] && kver=$(apt-cache policy "$kpkg" 2>/dev/null | sed -n 's/^ *Candidate: //p')
	if [[ -z $kpkg || -z $kver || $kver == "(none)" ]]; then
		# No apt lists (offline): an existing build is good enough.
		if [[ -s $out/vmlinuz && -s $out/initrd.gz && -s $out/manifest ]]; then
			log "apt cannot resolve linux-image-amd64; using the existing build"
			echo "guest: cached $out (kernel unresolvable, kept $(sed -n 's/^kernel_pkg=//p' "$out/manifest"))"
			exit 0
		fi
		die "cannot resolve linux-image-amd64 with apt-cache (run apt-get update)"
	fi
fi
bbver=$(dpkg-query -W -f='${Version}' busybox-static)
ccver=$(cc --version | head -n 1)

key=$(
	{
		echo "v1"
		echo "kernel=$kpkg $kver"
		echo "busybox=$bbver"
		echo "cc=$ccver"
		echo "modules=${ROOT_MODULES[*]}"
		cat "$here/build-guest.sh" "$here/init.sh" "$here/udhcpc.script" "$here/mcjoin.c" "$here/vsmspoof.c" "$here/ctflows.c"
	} | sha256sum | cut -c1-32
)

if ((!force)) && [[ -s $out/vmlinuz && -s $out/initrd.gz && -x $out/mcjoin && -s $out/manifest ]] &&
	grep -qx "key=$key" "$out/manifest"; then
	echo "guest: cached $out (key $key, $kpkg $kver) in $(($(now_ms) - t0)) ms"
	exit 0
fi

log "building $out (key $key, $kpkg $kver, busybox-static $bbver)"
work=$(mktemp -d "$out/.work.XXXXXX")
trap 'rm -rf -- "$work"' EXIT

if [[ -z $kdeb ]]; then
	mkdir -p "$out/cache"
	kdeb=$(compgen -G "$out/cache/${kpkg}_${kver//:/%3a}_amd64.deb" || true)
	if [[ -z $kdeb ]]; then
		log "apt-get download $kpkg=$kver"
		rm -f "$out/cache/"*.deb
		# _apt cannot write to a root-only dir: download in a world-writable
		# temp dir, then move.
		dl=$(mktemp -d)
		chmod 0777 "$dl"
		(cd "$dl" && apt-get download "$kpkg=$kver" >"$out/apt-download.log" 2>&1) ||
			{ rm -rf "$dl"; tail -5 "$out/apt-download.log" >&2; die "apt-get download $kpkg failed"; }
		mv "$dl"/*.deb "$out/cache/"
		rm -rf "$dl"
		kdeb=$(compgen -G "$out/cache/*.deb" | head -n 1)
	fi
fi

log "unpacking $(basename "$kdeb")"
mkdir -p "$work/k"
dpkg-deb --fsys-tarfile "$kdeb" | tar -x -C "$work/k" --wildcards './boot/vmlinuz-*' './lib/modules/*' \
	2>"$work/tar.err" || { cat "$work/tar.err" >&2; die "cannot unpack $kdeb"; }
vmlinuz=$(compgen -G "$work/k/boot/vmlinuz-*" | head -n 1)
[[ -n $vmlinuz ]] || die "no vmlinuz in $kdeb"
krel=${vmlinuz##*/vmlinuz-}
moddir="$work/k/lib/modules/$krel"
[[ -d $moddir ]] || die "no lib/modules/$krel in $kdeb"

# modules.dep: the package does not ship it (depmod runs at install).
if [[ ! -s $moddir/modules.dep ]]; then
	if command -v depmod >/dev/null; then
		depmod -b "$work/k" "$krel"
	else
		"$BB" depmod -b "$work/k" "$krel"
	fi
fi
[[ -s $moddir/modules.dep ]] || die "depmod produced no modules.dep"

# Resolve the load order: depth-first over modules.dep (each module after
# everything it depends on).  Lines: "path: dep dep ...".
# shellcheck disable=SC2016
load=$(awk -v roots="${ROOT_MODULES[*]}" '
	{
		p = $1; sub(/:$/, "", p)
		n = p; sub(/.*\//, "", n); sub(/\.ko(\.[a-z]+)?$/, "", n)
		path[n] = p
		d = ""
		for (i = 2; i <= NF; i++) { x = $i; sub(/.*\//, "", x); sub(/\.ko(\.[a-z]+)?$/, "", x); d = d " " x }
		deps[n] = d
	}
	function visit(m,   k, a, i) {
		if (m in done) return
		if (!(m in path)) { print "missing module " m > "/dev/stderr"; bad = 1; return }
		done[m] = 1
		k = split(deps[m], a, " ")
		# modules.dep lists the deepest dependency last: walk it backwards.
		for (i = k; i >= 1; i--) visit(a[i])
		print path[m]
	}
	END { n = split(roots, r, " "); for (i = 1; i <= n; i++) visit(r[i]); exit bad }
' "$moddir/modules.dep") || die "cannot resolve ${ROOT_MODULES[*]} in modules.dep"

# ---- the root file system
root="$work/root"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,run,tmp,root,lib/modules/"$krel"}
cp "$BB" "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
install -m 0755 "$here/init.sh" "$root/init"
install -m 0755 "$here/udhcpc.script" "$root/etc/udhcpc.script"
mknod -m 0600 "$root/dev/console" c 5 1
mknod -m 0666 "$root/dev/null" c 1 3
log "compiling mcjoin"
cc -static -O2 -s -Wall -o "$work/mcjoin" "$here/mcjoin.c" 2>"$work/cc.log" ||
	{ cat "$work/cc.log" >&2; die "cannot compile mcjoin.c"; }
install -m 0755 "$work/mcjoin" "$root/bin/mcjoin"
log "compiling vsmspoof"
cc -static -O2 -s -Wall -o "$work/vsmspoof" "$here/vsmspoof.c" 2>"$work/cc.log" ||
	{ cat "$work/cc.log" >&2; die "cannot compile vsmspoof.c"; }
install -m 0755 "$work/vsmspoof" "$root/bin/vsmspoof"
log "compiling ctflows"
cc -static -O2 -s -Wall -o "$work/ctflows" "$here/ctflows.c" 2>"$work/cc.log" ||
	{ cat "$work/cc.log" >&2; die "cannot compile ctflows.c"; }
install -m 0755 "$work/ctflows" "$root/bin/ctflows"

: >"$root/lib/modules/modules.load"
mods=()
for m in $load; do
	src="$moddir/$m"
	dst="$root/lib/modules/$krel/${m%.ko*}.ko"
	mkdir -p "$(dirname "$dst")"
	case $m in
	*.ko) cp "$src" "$dst" ;;
	*.ko.xz) xz -dc "$src" >"$dst" ;;
	*.ko.zst) zstd -qdc "$src" >"$dst" ;;
	*.ko.gz) gzip -dc "$src" >"$dst" ;;
	*) die "unknown module format $m" ;;
	esac
	echo "${m%.ko*}.ko" >>"$root/lib/modules/modules.load"
	n=${m##*/}
	mods+=("${n%.ko*}")
done

# Fixed mtimes: the same inputs give the same initrd.
find "$root" -exec touch -h -d @0 {} +
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | "$BB" cpio -o -H newc 2>/dev/null) |
	gzip -9 -n >"$work/initrd.gz"

cp "$vmlinuz" "$work/vmlinuz"
ms=$(($(now_ms) - t0))
{
	echo "key=$key"
	echo "kernel_pkg=$kpkg"
	echo "kernel_pkg_version=$kver"
	echo "kernel_release=$krel"
	echo "apt_lists_mtime=${lists:-}"
	echo "busybox=$bbver"
	echo "modules=${mods[*]}"
	echo "vmlinuz_bytes=$(stat -c %s "$work/vmlinuz")"
	echo "initrd_bytes=$(stat -c %s "$work/initrd.gz")"
	echo "build_ms=$ms"
} >"$work/manifest"
# Artefacts first, manifest (with the key) last.
rm -f "$out/manifest"
mv -f "$work/vmlinuz" "$out/vmlinuz"
mv -f "$work/initrd.gz" "$out/initrd.gz"
mv -f "$work/mcjoin" "$out/mcjoin"
mv -f "$work/manifest" "$out/manifest"
echo "guest: built $out in $ms ms ($krel, modules: ${mods[*]}, initrd $(stat -c %s "$out/initrd.gz") bytes)"
