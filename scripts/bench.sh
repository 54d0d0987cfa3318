#!/usr/bin/env bash
# make bench: the hot-path Go benchmarks, then the end-to-end harness.
# Every figure is printed under the command that produced it.
set -euo pipefail
run() { printf '\n$ %s\n' "$*"; "$@"; }
# Every package with a Go benchmark, less e2e (run below, once per figure).
pkgs=$(grep -rl --include='*_test.go' '^func Benchmark' . | xargs -n1 dirname | sort -u | grep -v '^./e2e$' || true)
run go test -run '^$' -bench . -benchmem -count 1 $pkgs
run go test -run '^$' -bench EndToEnd -benchtime 1x -count ${E2E_COUNT:-3} -timeout 30m ./e2e
# Latency at 5,000 lines/s, the idle agent, and 2,000-agent fan-in (issue 7).
run go test -run '^$' -bench 'Latency|Idle|FanIn' -benchtime 1x -timeout 20m ./e2e
