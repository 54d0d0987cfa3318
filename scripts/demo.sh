#!/usr/bin/env bash
# make demo: a throwaway CA, offbox-ingest on loopback with SQLite, an offbox
# agent shipping a real log file, and what arrived. Everything it writes is
# under $DEMO_DIR (default ./demo); it removes nothing else and stops both
# programs on exit.
set -euo pipefail
BIN=${OFFBOX_BIN:-bin}
DEMO_DIR=${DEMO_DIR:-demo}
rm -rf "$DEMO_DIR"
mkdir -p "$DEMO_DIR"
DEMO_DIR=$(cd "$DEMO_DIR" && pwd)
log="$DEMO_DIR/auth.log"
db="$DEMO_DIR/offbox.db"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

step() { printf '\n== %s\n' "$*"; }

step "throwaway CA and certificates in $DEMO_DIR/pki"
"$BIN/offbox-ingest" dev-certs -out "$DEMO_DIR/pki" -device demo-router
ls "$DEMO_DIR/pki"

step "offbox-ingest on loopback, SQLite at $db"
"$BIN/offbox-ingest" serve -listen 127.0.0.1:0 -db "$db" \
	-ca "$DEMO_DIR/pki/ca.pem" -cert "$DEMO_DIR/pki/ingest.pem" -key "$DEMO_DIR/pki/ingest-key.pem" \
	2>"$DEMO_DIR/ingest.log" &
pids+=($!)
addr=
for _ in $(seq 1 100); do
	addr=$(sed -n 's/.*listening on \([^ ]*\).*/\1/p' "$DEMO_DIR/ingest.log" | head -1)
	[ -n "$addr" ] && break
	sleep 0.1
done
[ -n "$addr" ] || { echo "offbox-ingest did not start:"; cat "$DEMO_DIR/ingest.log"; exit 1; }
echo "listening on $addr"

step "a log file with a few lines, and an offbox agent tailing it"
cat >"$log" <<'LINES'
Nov 22 18:00:01 demo-router sshd[811]: Failed password for root from 203.0.113.7 port 52110 ssh2
Nov 22 18:00:03 demo-router sshd[811]: Failed password for root from 203.0.113.7 port 52110 ssh2
Nov 22 18:00:09 demo-router sshd[815]: Accepted publickey for admin from 198.51.100.4 port 40022 ssh2
LINES
"$BIN/offbox" run -server "$addr" -ca "$DEMO_DIR/pki/ca.pem" \
	-cert "$DEMO_DIR/pki/demo-router.pem" -key "$DEMO_DIR/pki/demo-router-key.pem" \
	-tail "$log" -start-at beginning -heartbeat 2s 2>"$DEMO_DIR/agent.log" &
pids+=($!)

step "appending more lines while it runs"
for i in 1 2 3 4 5; do
	echo "Nov 22 18:01:0$i demo-router app[42]: demo line $i" >>"$log"
	sleep 0.3
done

want=8
n=0
for _ in $(seq 1 100); do
	n=$("$BIN/offbox-ingest" records -db "$db" -source "file:$log" -count 2>/dev/null || echo 0)
	[ "$n" -ge "$want" ] && break
	sleep 0.1
done

step "what arrived ($n of $want lines), as stored by the collector"
"$BIN/offbox-ingest" records -db "$db"

step "re-verifying every stored signature and the chain"
"$BIN/offbox-ingest" verify -db "$db"

step "the authentication events parsed from those lines, and the alerts they raised"
"$BIN/offbox-ingest" events -db "$db"
for _ in $(seq 1 50); do # detection runs just behind ingestion
	"$BIN/offbox-ingest" alerts -db "$db" -kind auth_success 2>/dev/null | grep -q . && break
	sleep 0.1
done
"$BIN/offbox-ingest" alerts -db "$db"

[ "$n" -ge "$want" ] || { echo "only $n of $want lines arrived"; exit 1; }
step "done: the demo stops both programs; files are in $DEMO_DIR"
