package web

import (
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/api"
	"github.com/offbox/offbox/ingest/store"
)

// TestFleetForwardLine: the fleet page says how far behind each forward
// sink is, from the cursors in the store, escaped.
func TestFleetForwardLine(t *testing.T) {
	t.Parallel()
	st := fixture(t)
	clock := func() time.Time { return now }
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := New(Config{Store: st, Auth: &api.Auth{Store: st, Now: clock, Logger: quiet}, Now: clock, Logger: quiet, Forward: st})
	if body := do(t, h, "GET", "/", aliceToken).Body.String(); strings.Contains(body, `id="forward"`) {
		t.Errorf("a forwarding line with no sink: %s", body)
	}
	// The fixture stores 5 batches; siem has sent the first 3.
	for _, c := range []store.ForwardCursor{{Sink: "siem", BatchRow: 4}, {Sink: "es<script>", BatchRow: 6}} {
		if err := st.SaveForwardCursor(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	body := do(t, h, "GET", "/", aliceToken).Body.String()
	for _, want := range []string{`<p id="forward">Forwarding: `,
		`<span class="forward-sink" data-sink="siem">siem 2 records (2 batches) behind, the oldest waiting 2h0m0s</span>`,
		`es&lt;script&gt; up to date`} {
		if !strings.Contains(body, want) {
			t.Errorf("fleet page lacks %q", want)
		}
	}
	if strings.Contains(body, "es<script>") {
		t.Error("sink name not escaped")
	}
}
