package forward

import (
	"fmt"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/forward/forwardtest"
	"github.com/offbox/offbox/ingest/store/sqlite"
)

// BenchmarkRsyslogTLS is forwarding's throughput into Debian's rsyslog
// over TLS: records/s from a store holding 20,000 records (two devices,
// 120-byte lines) until rsyslog has written the last of them to its file,
// batch_records 500 (the default) and 2000, the store's cursor saved with
// synchronous=FULL after each send, as the collector runs it.
func BenchmarkRsyslogTLS(b *testing.B) {
	for _, n := range []int{DefaultBatchRecords, 2000} {
		b.Run(fmt.Sprint("batch_records=", n), func(b *testing.B) { benchRsyslog(b, n) })
	}
}

func benchRsyslog(b *testing.B, batch int) {
	rs := forwardtest.StartRsyslog(b)
	path := b.TempDir() + "/offbox.db"
	st, err := sqlite.Open(path, sqlite.Options{Sync: "full"})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	fl := newFleet("router-1", "sw-2")
	fl.commit(b, st, 10, 1000, 120)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		// A new sink each time starts from the first batch.
		_, stop := runForwarder(b, st, SinkConfig{Name: fmt.Sprint("siem-", i), Type: TypeSyslog, Address: rs.Addr(),
			CA: rs.CA, ServerName: "localhost", BatchRecords: batch})
		want := (i + 1) * fl.total
		for rs.Count() < want { // read every 50 ms: the harness's reading is not forwarding's cost
			time.Sleep(50 * time.Millisecond)
			if time.Since(start) > 5*time.Minute {
				b.Fatalf("rsyslog holds %d of %d records after 5 minutes", rs.Count(), want)
			}
		}
		stop()
	}
	b.ReportMetric(float64(b.N*fl.total)/time.Since(start).Seconds(), "records/s")
}

// BenchmarkSyslogFormat is the cost of one RFC 5424 message of a
// 120-byte line.
func BenchmarkSyslogFormat(b *testing.B) {
	it := recordItem("router-1", "file:/var/log/syslog", []byte("Dec  7 01:02:03 router-1 sshd[1234]: Failed password for invalid user admin from 203.0.113.7 port 51234 ssh2 xxxxx"))
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = appendSyslog(buf[:0], &it, 16, DefaultMaxMessage)
	}
	b.SetBytes(int64(len(buf)))
}
