#!/usr/bin/env bash
# make fuzz-network [FUZZTIME=5s]: the fuzz targets of every decoder that
# reads what the network sends, run for FUZZTIME each (CI runs this).
# Collector: batch bytes (decode, verify, index), sealed batches, CSRs of
# enrollment, query API parameters, and the auth-line parser that reads
# every stored line. Agent: syslog datagrams and streams.
set -euo pipefail
t=${1:-5s}
# A run that ends in "context deadline exceeded" without a failing input
# found nothing: the fuzzer spent its time on the seed corpus's baseline
# (a loaded machine). It is run again, once, for twice as long.
fuzz() {
	local target=$1 dir=$2 time=$3 out
	printf '\n$ go test -run ^$ -fuzz ^%s$ -fuzztime %s %s\n' "$target" "$time" "$dir"
	if out=$(go test -run '^$' -fuzz "^${target}\$" -fuzztime "$time" "$dir" 2>&1); then
		printf '%s\n' "$out" | tail -3
		return 0
	fi
	printf '%s\n' "$out"
	if grep -q 'context deadline exceeded' <<<"$out" && ! grep -qi 'failing input' <<<"$out"; then
		return 2
	fi
	return 1
}
while read -r target dir; do
	rc=0
	fuzz "$target" "$dir" "$t" || rc=$?
	if [ "$rc" = 2 ]; then
		echo "(no input failed; the time ran out on the seed corpus: once more, for longer)"
		fuzz "$target" "$dir" "$(( ${t%s} * 2 ))s" || exit 1
	elif [ "$rc" != 0 ]; then
		exit 1
	fi
done <<'LIST'
FuzzBatchBytes ./ingest/server
FuzzVerifyMatchesStdlib ./ingest/server
FuzzBatchCodec ./transport/codec
FuzzOpen ./transport/seal
FuzzDecodeMatchesProto ./transport/seal
FuzzPeekHeader ./transport/seal
FuzzCSR ./ingest/enroll
FuzzParams ./ingest/api
FuzzTriageBody ./ingest/api
FuzzParse ./ingest/detect/authlog
FuzzApplianceMessages ./ingest/detect/authlog
FuzzParseRFC3164 ./collectors/syslog
FuzzParseRFC5424 ./collectors/syslog
FuzzSplitStream ./collectors/syslog
FuzzSplitStreamLent ./collectors/syslog
FuzzTextEscape ./ingest/store/postgres
FuzzParseRequest ./internal/pprofserve
LIST
