#!/bin/sh
# offbox prerm (deb: remove|upgrade|…; rpm %preun: 0 erase, 1 upgrade).
# On removal, stops and disables the agent; an upgrade leaves it running
# for the postinst to restart.
set -e
case "$1" in
remove|0)
	if command -v systemctl >/dev/null 2>&1; then
		[ -d /run/systemd/system ] && systemctl stop offbox.service offbox-enroll.service || true
		systemctl disable offbox.service offbox-enroll.service >/dev/null 2>&1 || true
	fi
	;;
esac
exit 0
