package sqlrow

import (
	"encoding/json"
	"slices"
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
	// Evidence is compact JSON now, read back by decodeRefs, for an
	// alert of the first ref's device and of another, and in the objects
	// json.Marshal wrote before (rows stored by earlier versions).
	for _, device := range []string{"", "sw1", "other"} {
		if len(refs) > 0 && device == "" {
			device = refs[0].Device
		}
		enc := appendRefs(nil, device, refs)
		if !json.Valid(enc) {
			t.Fatalf("refs %+v on %q: not JSON: %s", refs, device, enc)
		}
		got, err := decodeRefs(device, string(enc))
		if err != nil || !slices.Equal(got, viaJSON(t, device, refs)) {
			t.Errorf("refs %+v on %q: %s decodes to %+v, %v", refs, device, enc, got, err)
		}
	}
	old, err := json.Marshal(refs)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := decodeRefs("elsewhere", string(old)); err != nil || !slices.Equal(got, viaJSON(t, "", refs)) {
		t.Errorf("old evidence %s decodes to %+v, %v", old, got, err)
	}
}

// viaJSON is refs as JSON gives them back: a device other than device
// with invalid UTF-8 has each bad byte replaced by U+FFFD.
func viaJSON(t *testing.T, device string, refs []store.AlertRef) []store.AlertRef {
	out := slices.Clone(refs)
	for i := range out {
		if out[i].Device == device {
			continue
		}
		b, err := json.Marshal(out[i].Device)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &out[i].Device); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestEvidenceCompact: a ref on the alert's device costs its numbers, and
// bad evidence is an error, not a zero ref.
func TestEvidenceCompact(t *testing.T) {
	refs := []store.AlertRef{{Device: "bastion", Seq: 2, Index: 387}, {Device: "sw9", Seq: 3, Index: 4}}
	if got, want := string(appendRefs(nil, "bastion", refs)), `[[2,387],[3,4,"sw9"]]`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	for _, bad := range []string{``, `{}`, `[[1]]`, `[[1,2,"a",4]]`, `[["x",2]]`, `[[1,"y"]]`, `[[1,2,3]]`, `[7]`, `[{"seq":"z"}]`} {
		if got, err := decodeRefs("d", bad); err == nil {
			t.Errorf("%q decodes to %+v without an error", bad, got)
		}
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
