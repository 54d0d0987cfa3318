package loggen

import (
	"strconv"
	"time"
)

// Appliance lines as a syslog server files them: its own header, then the
// device's message in the vendor's format.

func appendClock(dst []byte, at time.Time) []byte {
	h, mi, s := at.Clock()
	return append(dst, byte('0'+h/10), byte('0'+h%10), ':', byte('0'+mi/10), byte('0'+mi%10), ':', byte('0'+s/10), byte('0'+s%10))
}

func appendMs(dst []byte, at time.Time) []byte {
	ms := at.Nanosecond() / 1e6
	return append(dst, '.', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10))
}

// cisco: IOS with "service timestamps log datetime msec".
func (g *Gen) cisco(dst []byte, at time.Time) []byte {
	dst = g.header(dst, at, "rtr", g.dev())
	dst = strconv.AppendInt(dst, int64(g.rng.IntN(900000)), 10)
	dst = append(dst, ": *"...)
	dst = append(dst, g.stamp...) // "Mmm dd hh:mm:ss", the router's clock
	dst = appendMs(dst, at)
	dst = append(dst, ": "...)
	switch r := g.rng.IntN(10); {
	case r < 2:
		dst = append(dst, "%SEC_LOGIN-4-LOGIN_FAILED: Login failed [user: "...)
		dst = append(dst, pick(g, targets)...)
		dst = append(dst, "] [Source: "...)
		dst = append(dst, pick(g, g.scanners)...)
		dst = append(dst, "] [localport: 22] [Reason: Login Authentication Failed] at "...)
		dst = g.ciscoTail(dst, at)
	case r < 3:
		dst = append(dst, "%SEC_LOGIN-5-LOGIN_SUCCESS: Login Success [user: "...)
		dst = append(dst, pick(g, netops)...)
		dst = append(dst, "] [Source: "...)
		dst = append(dst, pick(g, g.inside)...)
		dst = append(dst, "] [localport: 22] at "...)
		dst = g.ciscoTail(dst, at)
	case r < 4:
		dst = append(dst, "%LINEPROTO-5-UPDOWN: Line protocol on Interface "...)
		dst = append(dst, ifaces[g.rng.IntN(len(ifaces))]...)
		if g.rng.IntN(2) == 0 {
			dst = append(dst, ", changed state to down"...)
		} else {
			dst = append(dst, ", changed state to up"...)
		}
	default:
		dst = append(dst, "%SEC-6-IPACCESSLOGP: list OUTSIDE-IN denied tcp "...)
		dst = append(dst, pick(g, g.scanners)...)
		dst = append(dst, '(')
		dst = strconv.AppendInt(dst, int64(g.port()), 10)
		dst = append(dst, ") -> 198.51.100.1("...)
		dst = strconv.AppendInt(dst, int64([]int{22, 23, 443, 8291, 161}[g.rng.IntN(5)]), 10)
		dst = append(dst, "), 1 packet"...)
	}
	return dst
}

// ciscoTail appends "hh:mm:ss UTC Www Mmm d yyyy".
func (g *Gen) ciscoTail(dst []byte, at time.Time) []byte {
	dst = appendClock(dst, at)
	dst = append(dst, " UTC "...)
	dst = append(dst, at.Weekday().String()[:3]...)
	dst = append(dst, ' ')
	dst = append(dst, months[at.Month()-1]...)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, int64(at.Day()), 10)
	dst = append(dst, ' ')
	return append(dst, g.year...)
}

func (g *Gen) junos(dst []byte, at time.Time) []byte {
	dst = g.header(dst, at, "mx", g.dev())
	switch r := g.rng.IntN(10); {
	case r < 2:
		dst = g.prog(dst, "sshd", 1000, 65000)
		dst = append(dst, "SSHD_LOGIN_FAILED: Login failed for user '"...)
		dst = append(dst, pick(g, targets)...)
		dst = append(dst, "' from host '"...)
		dst = append(dst, pick(g, g.scanners)...)
		dst = append(dst, '\'')
	case r < 3:
		pid := 1000 + g.rng.IntN(60000)
		dst = append(dst, "mgd["...)
		dst = strconv.AppendInt(dst, int64(pid), 10)
		dst = append(dst, "]: UI_LOGIN_EVENT: User '"...)
		dst = append(dst, pick(g, netops)...)
		dst = append(dst, "' login, class 'j-super-user' ["...)
		dst = strconv.AppendInt(dst, int64(pid), 10)
		dst = append(dst, "], ssh-connection '"...)
		dst = append(dst, pick(g, g.inside)...)
		dst = append(dst, ' ')
		dst = strconv.AppendInt(dst, int64(g.port()), 10)
		dst = append(dst, " 10.0.0.1 22', client-mode 'cli'"...)
	default:
		src, dstIP := pick(g, g.inside), pick(g, g.scanners)
		sp, i := g.port(), g.rng.IntN(len(services))
		dst = append(dst, "RT_FLOW: RT_FLOW_SESSION_CREATE: session created "...)
		for j := range 2 {
			dst = append(dst, src...)
			dst = append(dst, '/')
			dst = strconv.AppendInt(dst, int64(sp), 10)
			dst = append(dst, "->"...)
			dst = append(dst, dstIP...)
			dst = append(dst, '/')
			dst = strconv.AppendInt(dst, int64(ports[i]), 10)
			if j == 0 {
				dst = append(dst, " 0x0 junos-"...)
				dst = append(dst, services[i]...)
				dst = append(dst, ' ')
			}
		}
		dst = append(dst, " 0x0 N/A N/A N/A N/A 6 default-permit trust untrust "...)
		dst = strconv.AppendInt(dst, int64(g.rng.IntN(1<<30)), 10)
		dst = append(dst, " N/A(N/A) ge-0/0/1.0 UNKNOWN UNKNOWN UNKNOWN N/A N/A -1 N/A N/A N/A"...)
	}
	return dst
}

func (g *Gen) fortios(dst []byte, at time.Time) []byte {
	dev := g.dev()
	dst = g.header(dst, at, "fw", dev)
	dst = append(dst, "date="...)
	dst = append(dst, g.year...)
	dst = append(dst, '-')
	mo, d := int(at.Month()), at.Day()
	dst = append(dst, byte('0'+mo/10), byte('0'+mo%10), '-', byte('0'+d/10), byte('0'+d%10))
	dst = append(dst, " time="...)
	dst = appendClock(dst, at)
	dst = append(dst, ` devname="fw-`...)
	if dev < 9 {
		dst = append(dst, '0')
	}
	dst = strconv.AppendInt(dst, int64(dev+1), 10)
	dst = append(dst, `" devid="FG100FTK2200`...)
	dst = strconv.AppendInt(dst, int64(1000+dev), 10)
	dst = append(dst, `" eventtime=`...)
	dst = strconv.AppendInt(dst, at.UnixNano(), 10)
	dst = append(dst, ` tz="+0000" `...)
	switch r := g.rng.IntN(20); {
	case r < 2:
		u, src := pick(g, targets), pick(g, g.scanners)
		dst = append(dst, `logid="0100032002" type="event" subtype="system" level="alert" vd="root" logdesc="Admin login failed" sn="0" user="`...)
		dst = append(dst, u...)
		dst = append(dst, `" ui="https(`...)
		dst = append(dst, src...)
		dst = append(dst, `)" method="https" srcip=`...)
		dst = append(dst, src...)
		dst = append(dst, ` dstip=198.51.100.2 action="login" status="failed" reason="name_invalid" msg="Administrator `...)
		dst = append(dst, u...)
		dst = append(dst, ` login failed from https(`...)
		dst = append(dst, src...)
		dst = append(dst, `) because of invalid user name"`...)
	case r < 3:
		u, src := pick(g, netops), pick(g, g.inside)
		dst = append(dst, `logid="0100032001" type="event" subtype="system" level="information" vd="root" logdesc="Admin login successful" sn="1700000000" user="`...)
		dst = append(dst, u...)
		dst = append(dst, `" ui="ssh(`...)
		dst = append(dst, src...)
		dst = append(dst, `)" method="ssh" srcip=`...)
		dst = append(dst, src...)
		dst = append(dst, ` dstip=10.0.0.254 action="login" status="success" reason="none" profile="super_admin" msg="Administrator `...)
		dst = append(dst, u...)
		dst = append(dst, ` logged in successfully from ssh(`...)
		dst = append(dst, src...)
		dst = append(dst, `)"`...)
	default:
		i := g.rng.IntN(len(services))
		dst = append(dst, `logid="0000000013" type="traffic" subtype="forward" level="notice" vd="root" srcip=`...)
		dst = append(dst, pick(g, g.inside)...)
		dst = append(dst, ` srcport=`...)
		dst = strconv.AppendInt(dst, int64(g.port()), 10)
		dst = append(dst, ` srcintf="internal" srcintfrole="lan" dstip=`...)
		dst = append(dst, pick(g, g.scanners)...)
		dst = append(dst, ` dstport=`...)
		dst = strconv.AppendInt(dst, int64(ports[i]), 10)
		dst = append(dst, ` dstintf="wan1" dstintfrole="wan" proto=6 action="close" policyid=1 policytype="policy" service="`...)
		dst = append(dst, services[i]...)
		dst = append(dst, `" duration=`...)
		dst = strconv.AppendInt(dst, int64(g.rng.IntN(600)), 10)
		dst = append(dst, ` sentbyte=`...)
		dst = strconv.AppendInt(dst, int64(g.rng.IntN(1<<20)), 10)
		dst = append(dst, ` rcvdbyte=`...)
		dst = strconv.AppendInt(dst, int64(g.rng.IntN(1<<24)), 10)
		dst = append(dst, ` sentpkt=`...)
		dst = strconv.AppendInt(dst, int64(g.rng.IntN(5000)), 10)
		dst = append(dst, ` rcvdpkt=`...)
		dst = strconv.AppendInt(dst, int64(g.rng.IntN(20000)), 10)
	}
	return dst
}
