#!/usr/bin/env bash
# make bench: the hot-path Go benchmarks, then the end-to-end harness.
# Every figure is printed under the command that produced it.
set -euo pipefail
run() { printf '\n$ %s\n' "$*"; "$@"; }
pkgs=$(go list ./... | while read -r p; do
	d=${p#github.com/offbox/offbox/}
	[ "$d" = e2e ] && continue
	grep -lq '^func Benchmark' "$d"/*_test.go 2>/dev/null && echo "./$d"
done)
run go test -run '^$' -bench . -benchmem -count 1 $pkgs
run go test -run '^$' -bench EndToEnd -benchtime 1x -count ${E2E_COUNT:-3} -timeout 30m ./e2e
