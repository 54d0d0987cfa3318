package leader

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// forwarder is a forward sink set whose oldest unsent batch is oldest.
type forwarder struct {
	oldest time.Time
	runs   atomic.Int32
}

func (f *forwarder) Run(ctx context.Context) error { f.runs.Add(1); <-ctx.Done(); return nil }
func (f *forwarder) Oldest(context.Context) (time.Time, error) {
	return f.oldest, nil
}

// TestRetentionKeepsForwardBacklog: forwarding runs while leading, and
// retention's cutoff never passes the oldest batch a forward sink has not
// sent.
func TestRetentionKeepsForwardBacklog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		det, st := newDetector(), &retention{}
		close(det.caughtUp)
		keep := 48 * time.Hour
		fw := &forwarder{oldest: time.Now().Add(-100 * time.Hour)}
		l, err := New(Config{Detector: det, Delivery: &delivery{}, Store: st, Keep: keep, Forward: fw, Logger: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		go func() { _ = l.Run(t.Context()) }()
		synctest.Wait()
		if fw.runs.Load() != 1 {
			t.Fatalf("forwarding ran %d times, want 1", fw.runs.Load())
		}
		st.mu.Lock()
		got := append([][2]time.Time(nil), st.prunes...)
		st.mu.Unlock()
		if len(got) != 1 || !got[0][0].Equal(fw.oldest) {
			t.Fatalf("prunes %v; want one with cutoff %v (the oldest unsent batch), not %v", got, fw.oldest, time.Now().Add(-keep))
		}
	})
}
