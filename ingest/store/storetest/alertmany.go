package storetest

import (
	"fmt"
	"testing"

	"github.com/offbox/offbox/ingest/store"
)

func init() {
	tests = append(tests, test{"SaveAlertsMany", testSaveAlertsMany})
}

// testSaveAlertsMany: a save larger than one multi-row statement (the SQL
// engines upsert up to 1,024 alerts a statement), with a group repeated,
// stores every alert once, the repeat's later version winning.
func testSaveAlertsMany(t *testing.T, fa Factory) {
	s, _, _ := newStore(t, fa)
	const n = 2500
	var ups []store.AlertUpsert
	for i := range n {
		a := alert(fmt.Sprintf("g%04d", i), t0)
		a.Evidence = []store.AlertRef{{Device: "router-1", Seq: uint64(i), Index: i % 7}}
		ups = append(ups, store.AlertUpsert{Alert: a})
	}
	again := ups[3]
	again.Alert.Count = 9
	ups = append(ups, again)
	save(t, s, t0, nil, ups...)
	got := alerts(t, s, store.AlertQuery{Limit: 2 * n})
	if len(got) != n {
		t.Fatalf("%d alerts stored, want %d", len(got), n)
	}
	for _, a := range got {
		var i int
		if _, err := fmt.Sscanf(a.GroupID, "g%04d", &i); err != nil {
			t.Fatalf("group %q: %v", a.GroupID, err)
		}
		want := 1
		if i == 3 {
			want = 9
		}
		if a.Count != want || len(a.Evidence) != 1 || a.Evidence[0].Seq != uint64(i) || a.Evidence[0].Index != i%7 {
			t.Fatalf("alert %s: count %d evidence %+v", a.GroupID, a.Count, a.Evidence)
		}
	}
}
