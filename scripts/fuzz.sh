#!/usr/bin/env bash
# make fuzz [FUZZTIME=10s]: run every native fuzz target in the module for
# FUZZTIME each. The seed corpora also run in every `make test`.
set -euo pipefail
t=${1:-10s}
grep -rl --include='*_test.go' '^func Fuzz' . | sort | while read -r f; do
	dir=$(dirname "$f")
	for target in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | sed 's/^func //'); do
		printf '\n$ go test -run ^$ -fuzz ^%s$ -fuzztime %s %s\n' "$target" "$t" "$dir"
		go test -run '^$' -fuzz "^${target}\$" -fuzztime "$t" "$dir"
	done
done
