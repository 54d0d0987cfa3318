#!/bin/sh
# offbox postinst (deb: configure [old-version]; rpm %post: 1 install,
# 2 upgrade). Enables the agent and its first-boot enrollment unit, and
# starts (restarts, on upgrade) the agent only when this device already has
# its certificate: without one it could only fail and retry.
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
	# Works without a running systemd too (an image being built).
	systemctl enable offbox.service offbox-enroll.service >/dev/null 2>&1 || true
fi

if [ -s /var/lib/offbox/device.pem ]; then
	if [ -n "$running" ]; then
		if [ -n "$first" ]; then
			systemctl start offbox.service || echo "offbox: could not start; see journalctl -u offbox" >&2
		else
			systemctl try-restart offbox.service || echo "offbox: could not restart; see journalctl -u offbox" >&2
		fi
	fi
	exit 0
fi

cat <<'MSG'
offbox is installed and enabled but not started: this device has no
certificate yet (/var/lib/offbox/device.pem). Next:
  1. Set server: in /etc/offbox/offbox.yaml and put the collector's CA
     certificate in /etc/offbox/ca.pem.
  2. On the collector: offbox-ingest token create -device NAME
  3. Here: echo OFFBOX_SERVER=HOST:PORT > /etc/offbox/enroll.env
           install -m 0640 -g offbox /dev/stdin /etc/offbox/enroll-token   (paste the token)
           systemctl start offbox-enroll     (enrolls, then deletes the token)
  4. systemctl start offbox
MSG
exit 0
