#!/usr/bin/env bash
# Installs everything the full test suite drives for real, on Debian 12, as
# root: the Debian packages below and the Go tools. `.ci/run` calls it; so can
# a developer once (`sudo scripts/install-test-deps.sh`). Without them `make
# test` skips the tests that need them and says which package each needs.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
# Each package and the tests that need it:
pkgs=(
	logrotate               # rotation under the tailer (collectors/filetail, e2e)
	chrony                  # a real NTP server for the clock collector
	protobuf-compiler       # make proto
	systemd                 # systemd-analyze on the units, journalctl
	systemd-journal-remote  # journal files for the journal collector
	qemu-user-static        # the arm and mips agent builds, run
	prometheus-alertmanager # the Alertmanager sink
	lintian rpm             # the .deb and .rpm packages, checked
	chromium                # the dashboard, in a real browser
	postgresql              # the PostgreSQL store and scale-out tests
	prometheus              # scrapes the collector's metrics (e2e TestMetricsPrometheusIntegration)
	rsyslog rsyslog-gnutls  # forward sinks: a real RFC 5425 syslog receiver over TLS
	bsdutils                # util-linux logger: appliances' syslog through a relay (e2e)
)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
	apt-get update -qq
	apt-get install -y -qq "${missing[@]}" >/dev/null
fi
go mod download
go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
go install github.com/axllent/mailpit@v1.33.1 # a real SMTP server for the email sink (ingest/notify, e2e)
