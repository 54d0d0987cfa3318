#!/bin/sh
# offbox preinst (deb: install|upgrade; rpm %pre): creates the offbox user
# before the files are unpacked, so that /etc/offbox, its config and
# /var/lib/offbox get their owner and group. The two lines are those of
# /usr/lib/sysusers.d/offbox.conf, which this package installs
# (e2e/package_test.go keeps them equal).
set -e
if command -v systemd-sysusers >/dev/null 2>&1; then
	systemd-sysusers --replace=/usr/lib/sysusers.d/offbox.conf - <<'SYSUSERS'
u offbox - "offbox agent" /var/lib/offbox
m offbox adm
SYSUSERS
elif ! getent passwd offbox >/dev/null; then
	useradd --system --user-group --no-create-home --home-dir /var/lib/offbox \
		--shell /usr/sbin/nologin --comment "offbox agent" offbox
	usermod -a -G adm offbox 2>/dev/null || true
fi
exit 0
