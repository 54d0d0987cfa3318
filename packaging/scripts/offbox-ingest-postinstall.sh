#!/bin/sh
# offbox-ingest postinst (deb: configure [old-version]; rpm %post:
# 1 install, 2 upgrade). Enables the collector, and starts (restarts, on
# upgrade) it only when its TLS files exist: without them it could only
# fail.
set -e
case "$1" in
configure) [ -z "$2" ] && first=1 || first= ;;
1) first=1 ;;
2) first= ;;
*) exit 0 ;;
esac

running=
[ -d /run/systemd/system ] && running=1
if command -v systemctl >/dev/null 2>&1; then
	[ -n "$running" ] && systemctl daemon-reload || true
	systemctl enable offbox-ingest.service >/dev/null 2>&1 || true
fi

d=/etc/offbox-ingest
if [ -s $d/ca.pem ] && [ -s $d/ingest.pem ] && [ -s $d/ingest-key.pem ]; then
	if [ -n "$running" ]; then
		if [ -n "$first" ]; then
			systemctl start offbox-ingest.service || echo "offbox-ingest: could not start; see journalctl -u offbox-ingest" >&2
		else
			systemctl try-restart offbox-ingest.service || echo "offbox-ingest: could not restart; see journalctl -u offbox-ingest" >&2
		fi
	fi
	exit 0
fi

cat <<'MSG'
offbox-ingest is installed and enabled but not started: its TLS files are
missing. Next:
  1. Put the device CA (ca.pem), the collector's certificate (ingest.pem)
     and its key (ingest-key.pem, root:offbox-ingest 0640) in /etc/offbox-ingest.
  2. Review /etc/offbox-ingest/offbox-ingest.yaml (listen, enroll.ca_key).
  3. systemctl start offbox-ingest
MSG
exit 0
