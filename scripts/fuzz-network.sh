#!/usr/bin/env bash
# make fuzz-network [FUZZTIME=5s]: the fuzz targets of every decoder that
# reads what the network sends, run for FUZZTIME each (CI runs this).
# Collector: batch bytes (decode, verify, index), sealed batches, CSRs of
# enrollment, query API parameters, and the auth-line parser that reads
# every stored line. Agent: syslog datagrams and streams.
set -euo pipefail
t=${1:-5s}
while read -r target dir; do
	printf '\n$ go test -run ^$ -fuzz ^%s$ -fuzztime %s %s\n' "$target" "$t" "$dir"
	go test -run '^$' -fuzz "^${target}\$" -fuzztime "$t" "$dir"
done <<'LIST'
FuzzBatchBytes ./ingest/server
FuzzOpen ./transport/seal
FuzzCSR ./ingest/enroll
FuzzParams ./ingest/api
FuzzParse ./ingest/detect/authlog
FuzzParseRFC3164 ./collectors/syslog
FuzzParseRFC5424 ./collectors/syslog
FuzzSplitStream ./collectors/syslog
LIST
