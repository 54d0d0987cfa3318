#!/usr/bin/env bash
# make bench: the hot-path Go benchmarks, then the end-to-end harness.
# Every figure is printed under the command that produced it.
set -euo pipefail
run() { printf '\n$ %s\n' "$*"; "$@"; }
# The PostgreSQL figures need a server: Debian's, started here when run as
# root (scripts/test-postgres.sh), or any given in OFFBOX_TEST_POSTGRES.
if [ -z "${OFFBOX_TEST_POSTGRES:-}" ]; then
	if [ "$(id -u)" = 0 ] && OFFBOX_TEST_POSTGRES=$(scripts/test-postgres.sh); then
		export OFFBOX_TEST_POSTGRES
	else
		echo "bench: no PostgreSQL (set OFFBOX_TEST_POSTGRES, or run as root with postgresql installed); its figures are skipped" >&2
	fi
fi
# Every package with a Go benchmark, less e2e (run below, once per figure).
pkgs=$(grep -rl --include='*_test.go' '^func Benchmark' . | xargs -n1 dirname | sort -u | grep -v '^./e2e$' || true)
run go test -run '^$' -bench . -benchmem -count 1 $pkgs
run go test -run '^$' -bench EndToEnd -benchtime 1x -count ${E2E_COUNT:-3} -timeout 30m ./e2e
# The idle agent first, on a machine at rest (after the fan-in below its
# figures carry that run's aftermath), then latency at 5,000 lines/s and
# 2,000-agent fan-in (issue 7), 10,000 (issue 19) and its floor (BenchmarkFanInFloor).
run go test -run '^$' -bench 'Idle' -benchtime 1x -timeout 20m ./e2e
run go test -run '^$' -bench 'Latency|FanIn' -benchtime 1x -timeout 20m ./e2e
