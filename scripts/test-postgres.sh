#!/usr/bin/env bash
# Starts Debian's PostgreSQL cluster (apt-get install postgresql) if it is
# down, makes sure the test role exists, and prints the URL the tests take
# as OFFBOX_TEST_POSTGRES. The role may create databases: every test makes
# its own and drops it afterwards. Run as root (CI); loopback only.
# Only the URL goes to standard output: whatever the cluster tools print
# (pg_ctlcluster says "Removed stale pid file." there) goes to stderr, and
# no descriptor of the caller's $(...) is left open in the server.
set -euo pipefail
{
ver=$(ls /usr/lib/postgresql | sort -V | tail -1)
if [ -z "$ver" ]; then
	echo "test-postgres: PostgreSQL is not installed (apt-get install postgresql)" >&2
	exit 1
fi
if ! pg_lsclusters -h | awk -v v="$ver" '$1 == v && $2 == "main" { found = 1 } END { exit !found }'; then
	pg_createcluster "$ver" main >/dev/null
fi
if ! pg_lsclusters -h | awk -v v="$ver" '$1 == v && $2 == "main" && $4 == "online" { ok = 1 } END { exit !ok }'; then
	pg_ctlcluster "$ver" main start
fi
port=$(pg_lsclusters -h | awk -v v="$ver" '$1 == v && $2 == "main" { print $3 }')
runuser -u postgres -- psql -p "$port" -qAtc "DO \$\$ BEGIN
	IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'offbox_test') THEN
		CREATE ROLE offbox_test LOGIN PASSWORD 'offbox_test' CREATEDB;
	END IF;
	-- DROP DATABASE ... WITH (FORCE) in the tests' cleanup terminates the
	-- test database's backends, which needs this for those of other roles.
	GRANT pg_signal_backend TO offbox_test;
END \$\$;" >/dev/null
} >&2
echo "postgres://offbox_test:offbox_test@127.0.0.1:${port}/postgres?sslmode=disable"
