package alerts

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/batchtest"
	"github.com/offbox/offbox/ingest/detect"
	"github.com/offbox/offbox/ingest/store"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
)

// TestMetricsHooks: Opened hears each alert once, when it opens (not its
// later counts), after it is saved; Heartbeat hears each HEARTBEAT record
// with its device; BatchRow is the cursor.
func TestMetricsHooks(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var opened []string
	beats := 0
	r, err := New(Config{Store: f.st, Now: f.clk.Now,
		Opened: func(a store.Alert) {
			if len(f.alerts(a.Kind)) == 0 {
				t.Errorf("%s heard before it was saved", a.Kind)
			}
			opened = append(opened, a.Kind+"/"+a.Severity)
		},
		Heartbeat: func(device string, rec *offboxv1.Record) {
			if device != "sw1" || rec.GetKind() != offboxv1.Kind_KIND_HEARTBEAT {
				t.Errorf("Heartbeat(%q, kind %v)", device, rec.GetKind())
			}
			beats++
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.restore(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		at := t0.Add(time.Duration(i) * time.Second)
		f.commit(authLine(at, fmt.Sprintf("sshd[10%d]: Failed password for root from 203.0.113.9 port 4242 ssh2", i)),
			batchtest.Heartbeat(at.UnixNano()))
	}
	f.drain(r, false)
	if want := []string{detect.AlertAuthFailure + "/" + store.SeverityInfo}; fmt.Sprint(opened) != fmt.Sprint(want) {
		t.Errorf("opened %v, want %v (one grouped alert, opened once)", opened, want)
	}
	if beats != 3 {
		t.Errorf("%d heartbeats heard, want 3", beats)
	}
	if got := r.BatchRow(); got != 3 {
		t.Errorf("BatchRow() = %d, want 3", got)
	}
}
