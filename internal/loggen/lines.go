package loggen

import (
	"strconv"
	"time"
)

var (
	users    = []string{"alice", "deploy", "ansible", "bob", "jenkins", "carol", "backup", "git", "ops", "dave", "svc-monitor", "erin", "postgres", "frank", "grace"}
	guesses  = []string{"admin", "test", "oracle", "ubuntu", "user", "pi", "guest", "ftpuser", "support", "hadoop", "mysql", "nagios", "teamspeak", "minecraft", "steam", "www", "dev", "odoo", "ts3", "centos", "jira", "zabbix", "vagrant", "es", "sysadmin"}
	targets  = []string{"root", "root", "root", "admin", "ubuntu", "test", "user", "oracle", "postgres"}
	netops   = []string{"netops", "admin", "noc", "alice", "rancid"}
	crons    = []string{"   cd / && run-parts --report /etc/cron.hourly", "command -v debian-sa1 > /dev/null && debian-sa1 1 1", "/usr/local/bin/backup.sh --incremental", "[ -x /usr/lib/php/sessionclean ] && if [ ! -d /run/systemd/system ]; then /usr/lib/php/sessionclean; fi", "/usr/bin/certbot -q renew", "test -x /usr/sbin/anacron || ( cd / && run-parts --report /etc/cron.daily )"}
	sudoCmds = []string{"/usr/bin/systemctl restart nginx", "/usr/bin/apt-get update", "/usr/bin/journalctl -u sshd --since today", "/usr/bin/tail -n 200 /var/log/auth.log", "/usr/sbin/ufw status", "/usr/bin/docker ps", "/bin/cat /etc/shadow", "/usr/bin/vim /etc/ssh/sshd_config"}
	units    = []string{"apt-daily.service", "logrotate.service", "man-db.service", "fstrim.service", "certbot.service", "sysstat-collect.service", "phpsessionclean.service", "dpkg-db-backup.service"}
	ifaces   = []string{"GigabitEthernet0/0", "GigabitEthernet0/1", "GigabitEthernet0/2", "TenGigabitEthernet1/0/1", "Vlan10", "Tunnel100"}
	services = []string{"HTTPS", "HTTP", "DNS", "SSH", "NTP", "SMTP", "tcp/8443", "QUIC"}
	ports    = []int{443, 80, 53, 22, 123, 25, 8443, 443}
	keyFP    = []string{"SHA256:8p1Vw3kq3H0m2X1b9Ez4f5rNQn5mYt0hJc6w0Lx1aQk", "SHA256:Qm4d0Pj9xYtK2u7W1cF8oE3sRz6LhN5bV0gT4aI2kMw", "SHA256:Zx9c8V7b6N5m4L3k2J1h0G9f8D7s6A5p4O3i2U1y0Tq"}
	months   = [12]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}
)

// header appends "Mmm dd hh:mm:ss host" with the host named by role and
// device index, then " ".
func (g *Gen) header(dst []byte, at time.Time, role string, dev int) []byte {
	if sec := at.Unix(); sec != g.stampSec {
		g.stampSec = sec
		mo, d := at.Month(), at.Day()
		h, mi, s := at.Clock()
		b := append(g.stamp[:0], months[mo-1]...)
		b = append(b, ' ')
		if d < 10 {
			b = append(b, ' ')
		}
		b = strconv.AppendInt(b, int64(d), 10)
		b = append(b, ' ', byte('0'+h/10), byte('0'+h%10), ':', byte('0'+mi/10), byte('0'+mi%10), ':', byte('0'+s/10), byte('0'+s%10))
		g.stamp = b
		g.year = strconv.Itoa(at.Year())
	}
	dst = append(dst, g.stamp...)
	dst = append(dst, ' ')
	dst = append(dst, role...)
	dst = append(dst, '-')
	if dev < 9 {
		dst = append(dst, '0')
	}
	dst = strconv.AppendInt(dst, int64(dev+1), 10)
	return append(dst, ' ')
}

func (g *Gen) prog(dst []byte, name string, lo, hi int) []byte {
	dst = append(dst, name...)
	dst = append(dst, '[')
	dst = strconv.AppendInt(dst, int64(lo+g.rng.IntN(hi-lo)), 10)
	return append(dst, "]: "...)
}

func (g *Gen) port() int { return 1024 + g.rng.IntN(64000) }

func appendPort(dst []byte, src string, port int) []byte {
	dst = append(dst, src...)
	dst = append(dst, " port "...)
	return strconv.AppendInt(dst, int64(port), 10)
}

func (g *Gen) dev() int { return g.rng.IntN(g.devices) }

// line appends one line of kind k at time at.
func (g *Gen) line(dst []byte, k Kind, at time.Time) []byte {
	switch k {
	case SSHFailed:
		dst = g.prog(g.header(dst, at, "bastion", g.dev()), "sshd", 1000, 65000)
		dst = append(dst, "Failed password for "...)
		if g.rng.IntN(4) == 0 { // a user of ours mistyping, from inside
			dst = append(dst, pick(g, users)...)
			dst = append(dst, " from "...)
			dst = appendPort(dst, pick(g, g.inside), g.port())
		} else {
			dst = append(dst, pick(g, targets)...)
			dst = append(dst, " from "...)
			dst = appendPort(dst, pick(g, g.scanners), g.port())
		}
		dst = append(dst, " ssh2"...)
	case SSHInvalidUser:
		dst = g.prog(g.header(dst, at, "bastion", g.dev()), "sshd", 1000, 65000)
		u, src, p := pick(g, guesses), pick(g, g.scanners), g.port()
		switch g.rng.IntN(3) {
		case 0:
			dst = append(dst, "Invalid user "...)
			dst = append(dst, u...)
			dst = append(dst, " from "...)
			dst = appendPort(dst, src, p)
		case 1:
			dst = append(dst, "Failed password for invalid user "...)
			dst = append(dst, u...)
			dst = append(dst, " from "...)
			dst = appendPort(dst, src, p)
			dst = append(dst, " ssh2"...)
		default:
			dst = append(dst, "Connection closed by invalid user "...)
			dst = append(dst, u...)
			dst = append(dst, ' ')
			dst = appendPort(dst, src, p)
			dst = append(dst, " [preauth]"...)
		}
	case SSHAccepted:
		dst = g.prog(g.header(dst, at, "bastion", g.dev()), "sshd", 1000, 65000)
		u, src := pick(g, users), pick(g, g.inside)
		if g.rng.IntN(10) < 7 {
			dst = append(dst, "Accepted publickey for "...)
			dst = append(dst, u...)
			dst = append(dst, " from "...)
			dst = appendPort(dst, src, g.port())
			dst = append(dst, " ssh2: ED25519 "...)
			dst = append(dst, keyFP[g.rng.IntN(len(keyFP))]...)
		} else {
			dst = append(dst, "Accepted password for "...)
			dst = append(dst, u...)
			dst = append(dst, " from "...)
			dst = appendPort(dst, src, g.port())
			dst = append(dst, " ssh2"...)
		}
	case SSHOther:
		dst = g.prog(g.header(dst, at, "bastion", g.dev()), "sshd", 1000, 65000)
		switch g.rng.IntN(4) {
		case 0:
			dst = append(dst, "Received disconnect from "...)
			dst = appendPort(dst, pick(g, g.scanners), g.port())
			dst = append(dst, ":11: Bye Bye [preauth]"...)
		case 1:
			dst = append(dst, "Connection closed by "...)
			dst = appendPort(dst, pick(g, g.scanners), g.port())
			dst = append(dst, " [preauth]"...)
		case 2:
			dst = append(dst, "Disconnected from user "...)
			dst = append(dst, pick(g, users)...)
			dst = append(dst, ' ')
			dst = appendPort(dst, pick(g, g.inside), g.port())
		default:
			dst = append(dst, "error: kex_exchange_identification: Connection closed by remote host"...)
		}
	case BruteForce:
		if g.burst.left == 0 {
			g.burst = burst{left: 20 + g.rng.IntN(80), source: g.scanners[g.rng.IntN(5)], device: g.dev(), port: g.port()}
		}
		g.burst.left--
		g.burst.port += 1 + g.rng.IntN(3)
		if g.burst.port > 65000 {
			g.burst.port = 1024
		}
		dst = g.prog(g.header(dst, at, "bastion", g.burst.device), "sshd", 1000, 65000)
		if g.rng.IntN(3) == 0 {
			dst = append(dst, "Failed password for invalid user "...)
			dst = append(dst, guesses[g.rng.IntN(len(guesses))]...)
		} else {
			dst = append(dst, "Failed password for root"...)
		}
		dst = append(dst, " from "...)
		dst = appendPort(dst, g.burst.source, g.burst.port)
		dst = append(dst, " ssh2"...)
	case PAMSession:
		dev := g.dev()
		var u, svc string
		switch g.rng.IntN(3) {
		case 0:
			u, svc = "root", "cron"
			dst = g.prog(g.header(dst, at, "bastion", dev), "CRON", 1000, 65000)
		case 1:
			u, svc = "root", "sudo"
			dst = append(g.header(dst, at, "bastion", dev), "sudo: "...)
		default:
			u, svc = pick(g, users), "sshd"
			dst = g.prog(g.header(dst, at, "bastion", dev), "sshd", 1000, 65000)
		}
		dst = append(dst, "pam_unix("...)
		dst = append(dst, svc...)
		dst = append(dst, ":session): session "...)
		if g.rng.IntN(2) == 0 {
			dst = append(dst, "opened for user "...)
			dst = append(dst, u...)
			if u == "root" {
				dst = append(dst, "(uid=0) by "...)
			} else {
				dst = append(dst, "(uid=100"...)
				dst = append(dst, byte('0'+len(u)%10))
				dst = append(dst, ") by "...)
			}
			if svc == "sudo" {
				dst = append(dst, pick(g, users)...)
				dst = append(dst, "(uid=1000)"...)
			} else {
				dst = append(dst, "(uid=0)"...)
			}
		} else {
			dst = append(dst, "closed for user "...)
			dst = append(dst, u...)
		}
	case Sudo:
		dst = append(g.header(dst, at, "bastion", g.dev()), "sudo: "...)
		dst = append(dst, pick(g, users)...)
		dst = append(dst, " : TTY=pts/"...)
		dst = strconv.AppendInt(dst, int64(g.rng.IntN(8)), 10)
		dst = append(dst, " ; PWD=/home/ops ; USER=root ; COMMAND="...)
		dst = append(dst, sudoCmds[g.rng.IntN(len(sudoCmds))]...)
	case Cron:
		dst = g.prog(g.header(dst, at, "bastion", g.dev()), "CRON", 1000, 65000)
		dst = append(dst, "(root) CMD ("...)
		dst = append(dst, crons[g.rng.IntN(len(crons))]...)
		dst = append(dst, ')')
	case Kernel:
		dst = append(g.header(dst, at, "bastion", g.dev()), "kernel: ["...)
		g.uptimeUs += int64(g.rng.IntN(200000))
		dst = strconv.AppendInt(dst, g.uptimeUs/1e6, 10)
		dst = append(dst, '.')
		us := g.uptimeUs % 1e6
		for d := int64(100000); d > 0; d /= 10 {
			dst = append(dst, byte('0'+us/d%10))
		}
		dst = append(dst, "] "...)
		switch g.rng.IntN(10) {
		case 0:
			dst = append(dst, "e1000e 0000:00:1f.6 eno1: NIC Link is Up 1000 Mbps Full Duplex, Flow Control: None"...)
		case 1:
			dst = append(dst, "nf_conntrack: nf_conntrack: table full, dropping packet"...)
		default:
			dst = append(dst, "[UFW BLOCK] IN=eth0 OUT= MAC=52:54:00:12:34:56:fe:54:00:ab:cd:ef:08:00 SRC="...)
			dst = append(dst, pick(g, g.scanners)...)
			dst = append(dst, " DST=203.0.113.10 LEN=60 TOS=0x00 PREC=0x00 TTL=49 ID="...)
			dst = strconv.AppendInt(dst, int64(g.rng.IntN(65536)), 10)
			dst = append(dst, " DF PROTO=TCP SPT="...)
			dst = strconv.AppendInt(dst, int64(g.port()), 10)
			dst = append(dst, " DPT="...)
			dst = strconv.AppendInt(dst, int64([]int{23, 3389, 445, 5900, 8080, 6379}[g.rng.IntN(6)]), 10)
			dst = append(dst, " WINDOW=64240 RES=0x00 SYN URGP=0"...)
		}
	case Systemd:
		dev := g.dev()
		switch g.rng.IntN(5) {
		case 0:
			g.session++
			dst = g.prog(g.header(dst, at, "bastion", dev), "systemd-logind", 700, 900)
			dst = append(dst, "New session "...)
			dst = strconv.AppendInt(dst, int64(g.session), 10)
			dst = append(dst, " of user "...)
			dst = append(dst, pick(g, users)...)
			dst = append(dst, '.')
		case 1:
			dst = g.prog(g.header(dst, at, "bastion", dev), "systemd-logind", 700, 900)
			dst = append(dst, "Session "...)
			dst = strconv.AppendInt(dst, int64(g.session-g.rng.IntN(20)), 10)
			dst = append(dst, " logged out. Waiting for processes to exit."...)
		case 2:
			dst = append(g.header(dst, at, "bastion", dev), "systemd[1]: Started Session "...)
			dst = strconv.AppendInt(dst, int64(g.session), 10)
			dst = append(dst, " of User "...)
			dst = append(dst, pick(g, users)...)
			dst = append(dst, '.')
		case 3:
			dst = append(g.header(dst, at, "bastion", dev), "systemd[1]: "...)
			dst = append(dst, units[g.rng.IntN(len(units))]...)
			dst = append(dst, ": Deactivated successfully."...)
		default:
			dst = append(g.header(dst, at, "bastion", dev), "systemd[1]: Starting "...)
			dst = append(dst, units[g.rng.IntN(len(units))]...)
			dst = append(dst, " - Daily activities..."...)
		}
	case Cisco:
		dst = g.cisco(dst, at)
	case Junos:
		dst = g.junos(dst, at)
	case FortiOS:
		dst = g.fortios(dst, at)
	}
	return append(dst, '\n')
}
