#!/bin/sh
# offbox-ingest postrm (deb: remove|purge|upgrade|…; rpm %postun: 0 erase,
# 1 upgrade). The database is kept even on purge: it is the evidence the
# collector exists for; delete /var/lib/offbox-ingest by hand.
set -e
case "$1" in
remove|purge|0)
	[ -d /run/systemd/system ] && systemctl daemon-reload || true
	;;
esac
exit 0
