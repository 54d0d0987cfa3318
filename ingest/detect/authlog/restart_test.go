package authlog

import (
	"testing"
	"time"
)

// ordinaryLines are what most of a fleet's lines look like: no login, no
// change, no restart. The parser runs on each at ingest, so what it costs
// on them is what it costs.
var ordinaryLines = [][]byte{
	[]byte(`<30>Nov 22 18:00:01 web-1 systemd[1]: Started Session 42 of User www-data.`),
	[]byte(`<6>Nov 22 18:00:01 web-1 kernel: [12345.678901] IPv6: ADDRCONF(NETDEV_CHANGE): eth0: link becomes ready`),
	[]byte(`<86>1 2026-11-22T18:00:01.123Z web-1 CRON 4242 - - (root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)`),
	[]byte(`Nov 22 18:00:01 gw dnsmasq-dhcp[2211]: DHCPACK(br-lan) 192.168.1.23 aa:bb:cc:dd:ee:ff laptop`),
	[]byte(`<189>1240: *Nov 22 18:00:07.001: %LINEPROTO-5-UPDOWN: Line protocol on Interface GigabitEthernet0/1, changed state to up`),
	[]byte(`<166>Nov 22 2026 18:00:12: %ASA-6-302013: Built inbound TCP connection 1234 for outside:192.0.2.44/52786 (192.0.2.44/52786) to inside:10.0.0.5/22 (10.0.0.5/22)`),
	[]byte(`<14>Nov 22 18:00:10 PA-3220 1,2026/11/22 18:00:10,012801012345,TRAFFIC,end,2561,2026/11/22 18:00:10,192.0.2.44,10.0.0.5,0.0.0.0,0.0.0.0,allow-ssh,,,ssh,vsys1,untrust,trust,ethernet1/1,ethernet1/2,log-fwd,2026/11/22 18:00:10,1234,1,52786,22,0,0,0x400000,tcp,allow,4000,2000,2000,20`),
	[]byte(`<189>date=2026-11-22 time=18:00:13 devname="FGT60F" devid="FGT60FTK2209XXXX" logid="0000000013" type="traffic" subtype="forward" level="notice" vd="root" srcip=10.0.0.5 srcport=52786 dstip=192.0.2.44 dstport=443 action="close"`),
	[]byte(`<189>Nov 22 2026 18:00:08 CE6850-A %%01IFNET/4/IF_STATE(l)[6]:Interface 10GE1/0/1 has turned into UP state.`),
	[]byte(`Nov 22 18:00:01 app-3 nginx: 192.0.2.44 - - [22/Nov/2026:18:00:01 +0000] "GET /index.html HTTP/1.1" 200 612 "-" "curl/8.5.0"`),
	[]byte(`<134>Nov 22 18:00:20 hAP-ax3 dhcp,info dhcp1 assigned 192.168.88.254 to AA:BB:CC:DD:EE:FF`),
	[]byte(`<28>Nov 22 18:00:01 mx480-re0 rpd[1848]: bgp_read_message:2764: NOTIFICATION received from 192.0.2.1 (External AS 64500): code 6 (Cease) subcode 5 (Connection Rejected)`),
}

// BenchmarkParseAllOrdinary measures ParseAll, as detection calls it, on
// lines that are no event of any kind.
func BenchmarkParseAllOrdinary(b *testing.B) {
	for _, l := range ordinaryLines {
		if ev, ok := ParseAll(l, refTime); ok {
			b.Fatalf("ordinary line parsed as %+v: %s", ev, l)
		}
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ParseAll(ordinaryLines[i%len(ordinaryLines)], refTime)
	}
}

// FuzzYearStamp holds yearStamp to time.ParseInLocation, which it replaces.
func FuzzYearStamp(f *testing.F) {
	for _, s := range []string{"Nov 22 2026 18:00:01", "Dec 31 2025 23:59:58", "Feb 29 2024 00:00:00", "Feb 29 2025 00:00:00",
		"Jan  2 2026 01:02:03", "2026 Nov 22 18:00:01", "2026 Jan  2 01:02:03", "Apr 31 2026 10:00:00", "Nov 22 2026 24:00:00",
		"Nov 00 2026 18:00:01", "Nov 22 2026 18:00:60", "Nov 2  2026 18:00:01", "nov 22 2026 18:00:01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) != 20 {
			return
		}
		for _, layout := range []string{"Jan _2 2006 15:04:05", "2006 Jan _2 15:04:05"} {
			want, err := time.ParseInLocation(layout, s, time.UTC)
			got, ok := yearStamp(layout, s, time.UTC)
			if ok != (err == nil) || ok && !got.Equal(want) {
				t.Errorf("yearStamp(%q, %q) = %v %v; ParseInLocation %v %v", layout, s, got, ok, want, err)
			}
		}
	})
}
