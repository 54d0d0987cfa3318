#!/bin/sh
# offbox-ingest preinst (deb: install|upgrade; rpm %pre): creates the
# offbox-ingest user before the files are unpacked, so that
# /etc/offbox-ingest, its config and /var/lib/offbox-ingest get their owner
# and group. The line is that of /usr/lib/sysusers.d/offbox-ingest.conf,
# which this package installs (e2e/package_test.go keeps them equal).
set -e
if command -v systemd-sysusers >/dev/null 2>&1; then
	systemd-sysusers --replace=/usr/lib/sysusers.d/offbox-ingest.conf - <<'SYSUSERS'
u offbox-ingest - "offbox collector" /var/lib/offbox-ingest
SYSUSERS
elif ! getent passwd offbox-ingest >/dev/null; then
	useradd --system --user-group --no-create-home --home-dir /var/lib/offbox-ingest \
		--shell /usr/sbin/nologin --comment "offbox collector" offbox-ingest
fi
exit 0
