package forward

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/forward/forwardtest"
	"github.com/offbox/offbox/transport/tlsconf"
)

// collect parses every line rsyslog holds into rec, checking each.
func collect(t *testing.T, r *forwardtest.Rsyslog) *received {
	rec, _ := collectTorn(t, r, false)
	return rec
}

// collectTorn is collect that, with allowTorn, counts the lines that do
// not parse (a line a killed rsyslogd left half written) instead of
// failing on them.
func collectTorn(t *testing.T, r *forwardtest.Rsyslog, allowTorn bool) (rec *received, torn int) {
	rec = &received{}
	for _, l := range r.Lines() {
		m, err := forwardtest.Parse(l)
		if err != nil {
			if allowTorn {
				torn++
			} else {
				t.Errorf("rsyslog holds %q: %v", l, err)
			}
			continue
		}
		seq, _ := strconv.ParseUint(m.Params["seq"], 10, 64)
		idx, _ := strconv.Atoi(m.Params["index"])
		if m.Host != m.Params["device"] || m.App != "offbox" || m.MsgID != "log" || m.SDID != SDID {
			t.Errorf("header %+v", m)
		}
		body, err := forwardtest.Unescape(m.Msg)
		if err != nil || !bytes.HasPrefix(body, []byte(m.Params["source"])) {
			t.Errorf("body %q (%v) does not start with its source %q", m.Msg, err, m.Params["source"])
		}
		rec.add(m.Params["device"], seq, idx)
	}
	return rec, torn
}

// TestRsyslogIntegration: every stored record reaches Debian's rsyslog
// over TLS once, in order per device, traceable to the store by its
// structured data; a sink whose CA does not sign rsyslog's certificate
// sends nothing (verification is on by default).
func TestRsyslogIntegration(t *testing.T) {
	rs := forwardtest.StartRsyslog(t)
	st, _ := newStore(t)
	fl := newFleet("router-1", "sw-2", "ap-3")
	fl.commit(t, st, 5, 200, 100)
	otherCA, _ := tlsconf.NewCA("another CA", time.Hour)
	wrongCA := filepath.Join(t.TempDir(), "other.pem")
	os.WriteFile(wrongCA, tlsconf.CertPEM(otherCA.Cert), 0o644)
	fw, _ := runForwarder(t, st,
		SinkConfig{Name: "siem", Type: TypeSyslog, Address: rs.Addr(), CA: rs.CA, ServerName: "localhost"},
		SinkConfig{Name: "untrusted", Type: TypeSyslog, Address: rs.Addr(), CA: wrongCA})
	waitFor(t, 30*time.Second, "every record in rsyslog's file", func() bool { return rs.Count() >= fl.total })
	time.Sleep(300 * time.Millisecond) // anything more would be a duplicate
	if dups := collect(t, rs).check(t, fl.want); dups != 0 {
		t.Errorf("%d records arrived twice", dups)
	}
	if n := rs.Count(); n != fl.total {
		t.Errorf("rsyslog holds %d lines, want %d", n, fl.total)
	}
	s := fw.Stats()
	if s[0].Records != int64(fl.total) || s[0].Failures != 0 {
		t.Errorf("siem stats: %+v", s[0])
	}
	if s[1].Records != 0 || s[1].Failures == 0 || !bytes.Contains([]byte(s[1].LastError), []byte("certificate signed by unknown authority")) {
		t.Errorf("untrusted sink: %d records, %d failures, last error %q", s[1].Records, s[1].Failures, s[1].LastError)
	}
}

// TestRsyslogRestartIntegration: rsyslog is killed mid-stream and started
// again. Counted in the file it finally holds: nothing is missing beyond
// what rsyslog had acknowledged (its TCP) and not yet written when it died
// (syslog has no application acknowledgement: the sink resends one send
// back, which covers a socket buffer of up to that much; README), and no
// more duplicates than the documented bound (2 × batch_records a failure).
// The figures are logged.
func TestRsyslogRestartIntegration(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			rs := forwardtest.StartRsyslog(t)
			st, _ := newStore(t)
			fl := newFleet("router-1", "sw-2")
			fl.commit(t, st, 20, 1000, 120)
			const batch = 500
			fw, _ := runForwarder(t, st, SinkConfig{Name: "siem", Type: TypeSyslog, Address: rs.Addr(), CA: rs.CA, ServerName: "localhost",
				BatchRecords: batch})
			waitFor(t, 30*time.Second, "a third of the records", func() bool { return rs.Count() >= fl.total/3 })
			rs.Kill(sig)
			held := int(fw.Stats()[0].Records) // taken by rsyslog's TCP by the time it died
			at := rs.Count()                   // written by then
			time.Sleep(500 * time.Millisecond) // the sink fails and backs off meanwhile
			rs.Start()
			// Until every record is there, or the file has stopped growing
			// for 3 s after the sink caught up.
			var rec *received
			var torn, missing int
			last, lastChange := -1, time.Now()
			for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
				rec, torn = collectTorn(t, rs, true)
				missing = countMissing(rec, fl.want)
				if n := rs.Count(); n != last {
					last, lastChange = n, time.Now()
				}
				if missing == 0 || (fw.Stats()[0].Records >= int64(fl.total) && time.Since(lastChange) > 3*time.Second) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("after 60 s, %d records missing and the sink has not caught up: %+v", missing, fw.Stats()[0])
				}
			}
			if torn > 1 {
				t.Errorf("%d lines do not parse; at most the one the kill cut may be torn", torn)
			}
			lines, distinct := 0, 0
			for dev := range fl.want {
				seen := map[string]bool{}
				for _, k := range rec.got[dev] {
					lines++
					if !seen[k] {
						seen[k], distinct = true, distinct+1
					}
				}
			}
			dups := lines - distinct
			t.Logf("killed with %s after %d of %d lines written, %d taken by its TCP; finally %d missing, %d duplicates (bound %d)",
				sig, at, fl.total, held, missing, dups, 2*batch)
			if unwritten := max(0, held-at); missing > unwritten {
				t.Errorf("%d records missing, more than the %d rsyslog had taken and not written when it died", missing, unwritten)
			}
			if dups > 2*batch {
				t.Errorf("%d duplicates, more than 2 × batch_records = %d", dups, 2*batch)
			}
		})
	}
}

// countMissing is how many wanted records rec has not seen.
func countMissing(rec *received, want map[string][]string) int {
	n := 0
	for dev, w := range want {
		seen := map[string]bool{}
		for _, k := range rec.got[dev] {
			seen[k] = true
		}
		for _, k := range w {
			if !seen[k] {
				n++
			}
		}
	}
	return n
}
