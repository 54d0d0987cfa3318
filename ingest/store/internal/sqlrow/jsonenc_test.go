package sqlrow

import (
	"encoding/json"
	"testing"

	"github.com/offbox/offbox/ingest/store"
)

// likeJSON checks that the hand encoders write what json.Marshal does.
func likeJSON(t *testing.T, m map[string]string, refs []store.AlertRef) {
	t.Helper()
	wantMap, err := json.Marshal(stringMap(m))
	if err != nil {
		t.Fatal(err)
	}
	if got := appendStringMap(nil, m); string(got) != string(wantMap) {
		t.Errorf("map %q:\n got %s\nwant %s", m, got, wantMap)
	}
	if refs == nil {
		refs = []store.AlertRef{}
	}
	wantRefs, err := json.Marshal(refs)
	if err != nil {
		t.Fatal(err)
	}
	if got := appendRefs(nil, refs); string(got) != string(wantRefs) {
		t.Errorf("refs %+v:\n got %s\nwant %s", refs, got, wantRefs)
	}
}

func TestEncodeLikeJSON(t *testing.T) {
	likeJSON(t, nil, nil)
	likeJSON(t, map[string]string{}, []store.AlertRef{})
	likeJSON(t, map[string]string{"user": "root", "source": "203.0.113.9", "count": "1", "b": "", "a": "x"},
		[]store.AlertRef{{Device: "sw1", Seq: 1<<64 - 1, Index: -3}, {Device: "", Seq: 0, Index: 1 << 40}})
	hostile := []string{"a\"b", `back\slash`, "<script>&amp;", "tab\there", "nl\n", "\x00\x1f\x7f", "é ü 日本",
		"\u2028\u2029", "bad \xff\xfe utf8", "\x1b[31mred"}
	for _, s := range hostile {
		likeJSON(t, map[string]string{s: s, "k" + s: "v"}, []store.AlertRef{{Device: s, Seq: 5, Index: 6}})
	}
	// More keys than the sort's stack buffer.
	many := map[string]string{}
	for i := range 40 {
		many[string(rune('A'+i))+"key"] = string(rune('z' - i%26))
	}
	likeJSON(t, many, nil)
}

func FuzzEncodeLikeJSON(f *testing.F) {
	f.Add("user", "root", "sw1", uint64(1), 0)
	f.Add("a\"<>&\\", "\x00\xff\u2028", "\x1b[2J", uint64(1<<63), -1)
	f.Fuzz(func(t *testing.T, k, v, device string, seq uint64, index int) {
		likeJSON(t, map[string]string{k: v, v: k, "x": k + v}, []store.AlertRef{{Device: device, Seq: seq, Index: index}, {}})
	})
}
