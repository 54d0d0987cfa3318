#!/bin/sh
# offbox-ingest prerm (deb: remove|upgrade|…; rpm %preun: 0 erase,
# 1 upgrade). On removal, stops and disables the collector.
set -e
case "$1" in
remove|0)
	if command -v systemctl >/dev/null 2>&1; then
		[ -d /run/systemd/system ] && systemctl stop offbox-ingest.service || true
		systemctl disable offbox-ingest.service >/dev/null 2>&1 || true
	fi
	;;
esac
exit 0
