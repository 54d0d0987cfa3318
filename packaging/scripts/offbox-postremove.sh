#!/bin/sh
# offbox postrm (deb: remove|purge|upgrade|…; rpm %postun: 0 erase,
# 1 upgrade). Purge also deletes the device key and certificate; the user
# stays (files it owned elsewhere would otherwise fall to its successor).
set -e
case "$1" in
remove|purge|0)
	[ -d /run/systemd/system ] && systemctl daemon-reload || true
	;;
esac
if [ "$1" = purge ]; then
	rm -rf /var/lib/offbox
fi
exit 0
