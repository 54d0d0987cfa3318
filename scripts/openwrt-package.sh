#!/usr/bin/env bash
# Builds the agent's OpenWrt package (.ipk) with nfpm from the static cross
# builds in bin/cross (make cross), one per target, into DIST (default
# dist/).
#
#   NFPM=.tools/nfpm-v2.45.2/nfpm VERSION=v1.2.3 scripts/openwrt-package.sh mips mipsle armv7
#
# opkg installs a package only for the device's own architecture name:
# override the defaults below (the commonest targets: ath79, ramips mt7621,
# ipq40xx) with IPK_ARCH_mips=..., IPK_ARCH_mipsle=..., IPK_ARCH_armv7=...
# (see the device's /etc/openwrt_release, DISTRIB_ARCH).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${NFPM:?path of the nfpm binary}"
VERSION=${VERSION:-dev}
DIST=${DIST:-dist}
[ $# -gt 0 ] || set -- mips mipsle armv7

# The same version rule as scripts/packages.sh.
eval "$(sed -n '/^pkg_version()/,/^}/p' scripts/packages.sh)"
PKG_VERSION=$(pkg_version "$VERSION")
export PKG_VERSION

declare -A default_arch=([mips]=mips_24kc [mipsle]=mipsel_24kc [armv7]=arm_cortex-a7_neon-vfpv4 [arm64]=aarch64_generic [amd64]=x86_64)
mkdir -p "$DIST"
for cross in "$@"; do
	var=IPK_ARCH_$cross
	arch=${!var:-${default_arch[$cross]:-}}
	[ -n "$arch" ] || { echo "no OpenWrt architecture for $cross: set $var" >&2; exit 1; }
	bin=bin/cross/offbox-linux-$cross
	[ -x "$bin" ] || { echo "$bin missing: make cross" >&2; exit 1; }
	CROSS=$cross IPK_ARCH=$arch "$NFPM" package --config packaging/openwrt/nfpm-offbox.yaml --packager ipk \
		--target "$DIST/offbox_${PKG_VERSION}-1_$arch.ipk"
done
ls -l "$DIST"/*.ipk
# What each package takes once installed (opkg's Installed-Size, in KiB: the
# binary and its files, before the overlay's own compression).
for ipk in "$DIST"/offbox_"$PKG_VERSION"-1_*.ipk; do
	kib=$(tar -xzOf "$ipk" ./control.tar.gz | tar -xzO ./control | sed -n 's/^Installed-Size: //p')
	echo "$(basename "$ipk"): installed size $kib KiB"
done
