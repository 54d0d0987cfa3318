#!/usr/bin/env bash
# Builds the .deb and .rpm of offbox and offbox-ingest with nfpm from the
# static cross builds in bin/cross (make cross cross-ingest), one of each per
# architecture, into DIST (default dist/).
#
#   NFPM=.tools/nfpm-v2.45.2/nfpm VERSION=v1.2.3 scripts/packages.sh amd64 arm64
#
# VERSION is what the binaries carry (git describe); the package version is
# made from it so that dpkg and rpm order it: v1.2.3 -> 1.2.3,
# v1.2.3-4-gabc -> 1.2.3+4.gabc, abc123-dirty -> 0.0.0~gitabc123.dirty.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${NFPM:?path of the nfpm binary}"
VERSION=${VERSION:-dev}
DIST=${DIST:-dist}
[ $# -gt 0 ] || set -- amd64 arm64

pkg_version() {
	local v=${1#v}
	if [[ $v =~ ^[0-9]+\.[0-9]+ ]]; then # a release tag, maybe with commits after it
		local base=${v%%-*} rest=${v#*-}
		[ "$rest" = "$v" ] && { echo "$base"; return; }
		echo "$base+${rest//-/.}"
	else # no tag: git describe --always gives the commit
		echo "0.0.0~git${v//-/.}"
	fi
}
PKG_VERSION=$(pkg_version "$VERSION")
export PKG_VERSION

# Debian wants a changelog in every binary package (lintian:
# no-changelog); nfpm writes it from this file (the configs name it).
mkdir -p bin/pkg "$DIST"
date=$(git log -1 --format=%cI 2>/dev/null || date -u +%Y-%m-%dT%H:%M:%SZ)
cat >bin/pkg/changelog.yaml <<CHANGELOG
- semver: "$PKG_VERSION-1"
  date: "$date"
  packager: "offbox maintainers <offbox@example.net>"
  deb:
    urgency: medium
    distributions: [unstable]
  changes:
    - note: "Build of offbox $VERSION."
CHANGELOG

for arch in "$@"; do
	for prog in offbox offbox-ingest; do
		bin=bin/cross/$prog-linux-$arch
		[ -x "$bin" ] || { echo "$bin missing: make cross cross-ingest" >&2; exit 1; }
		for fmt in deb rpm; do
			GOARCH=$arch "$NFPM" package --config "packaging/nfpm-$prog.yaml" --packager "$fmt" --target "$DIST/"
		done
	done
done
ls -l "$DIST"/*.deb "$DIST"/*.rpm
