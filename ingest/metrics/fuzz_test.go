package metrics

import (
	"math"
	"testing"

	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
)

// FuzzHeartbeat: whatever a device puts in its heartbeat's attributes,
// reading it never panics, the scrape stays valid, every device gauge is
// a finite number, and a figure is one the device sent as an integer.
func FuzzHeartbeat(f *testing.F) {
	for _, s := range []struct{ k, v string }{
		{"queue_bytes", "100"}, {"dropped_records", "-5"}, {"clock_offset_ns", "9223372036854775807"},
		{"clock_offset_ns", "1e9"}, {"queue_bytes", "NaN"}, {"dropped_bytes", "0x10"}, {"queue_bytes", "\xff<script>"},
	} {
		f.Add(s.k, s.v)
	}
	f.Fuzz(func(t *testing.T, key, value string) {
		m := New(Config{MaxDevices: 1})
		m.Heartbeat("d", &offboxv1.Record{Kind: offboxv1.Kind_KIND_HEARTBEAT, Attrs: []*offboxv1.Attr{{Key: key, Value: value}}})
		fams, err := m.Registry().Gather()
		if err != nil {
			t.Fatalf("scrape after heartbeat %q=%q: %v", key, value, err)
		}
		for _, fam := range fams {
			for _, mt := range fam.GetMetric() {
				if g := mt.GetGauge(); g != nil && (math.IsNaN(g.GetValue()) || math.IsInf(g.GetValue(), 0)) {
					t.Errorf("%s = %v after heartbeat %q=%q", fam.GetName(), g.GetValue(), key, value)
				}
			}
		}
	})
}
