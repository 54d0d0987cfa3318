package export

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/batchtest"
	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/ingest/store/sqlite"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
	"github.com/offbox/offbox/transport/seal"
)

func TestKindNames(t *testing.T) {
	t.Parallel()
	for v, name := range map[offboxv1.Kind]string{offboxv1.Kind_KIND_LOG: "log", offboxv1.Kind_KIND_AGENT_STATUS: "agent_status",
		offboxv1.Kind_KIND_CONFIG_CHANGE: "config_change", offboxv1.Kind_KIND_PASSWORD_AGE: "password_age"} {
		if got := KindName(v); got != name {
			t.Errorf("KindName(%d) = %q, want %q", v, got, name)
		}
	}
	// A kind from a newer agent still shows what it was.
	if got, want := KindName(offboxv1.Kind(42)), "42"; got != want {
		t.Errorf("KindName(42) = %q, want %q", got, want)
	}
}

func TestFlagNames(t *testing.T) {
	t.Parallel()
	tests := map[uint32][]string{0: {}, 1: {"partial"}, 2: {"no_newline"}, 3: {"partial", "no_newline"}, 1 << 5: {"bit5"}}
	for in, want := range tests {
		if got := FlagNames(in); !slices.Equal(got, want) {
			t.Errorf("FlagNames(%d) = %v, want %v", in, got, want)
		}
	}
}

// TestJSONIsByteExact: every body comes back byte for byte from the JSON,
// text when it is UTF-8, base64 when it is not, with flags, attrs and the
// file range.
func TestJSONIsByteExact(t *testing.T) {
	t.Parallel()
	bodies := [][]byte{[]byte("plain"), {0xff, 0xfe, 'x'}, {0, 1, 2, 0x1b, '['}, []byte("héllo ✓\r"), {}}
	for i, body := range bodies {
		rec := &store.Record{Device: "d", Seq: 7, Index: i, Received: time.Unix(1, 5), Record: &offboxv1.Record{
			TimeNs: 1_700_000_000_123_456_789, Kind: offboxv1.Kind_KIND_LOG, Source: "file:/x", Body: body, Flags: 1,
			Attrs: []*offboxv1.Attr{{Key: "k", Value: "v"}}, File: &offboxv1.FileRange{Start: 10, End: 20}}}
		line, err := json.Marshal(ToJSON(rec))
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			JSONRecord
			DeviceTime time.Time `json:"device_time"`
		}
		if err := json.Unmarshal(line, &got); err != nil {
			t.Fatal(err)
		}
		var b []byte
		if got.BodyEncoding == "base64" {
			b, _ = base64.StdEncoding.DecodeString(got.BodyBase64)
			if got.Body != nil {
				t.Errorf("body %q: both body and body_base64 set", body)
			}
		} else {
			b = []byte(*got.Body)
		}
		if !bytes.Equal(b, body) {
			t.Errorf("body %q came back as %q (%s)", body, b, line)
		}
		if got.Kind != "log" || got.Seq != 7 || got.Index != i || !slices.Equal(got.Flags, []string{"partial"}) ||
			got.Attrs["k"] != "v" || *got.FileStart != 10 || *got.FileEnd != 20 ||
			got.DeviceTime.UnixNano() != 1_700_000_000_123_456_789 || got.ReceivedTime != "1970-01-01T00:00:01.000000005Z" {
			t.Errorf("json = %s", line)
		}
	}
}

func TestTextIsOneLine(t *testing.T) {
	t.Parallel()
	rec := &store.Record{Device: "sw1", Record: &offboxv1.Record{TimeNs: 0, Source: "file:/x", Body: []byte("a\nb\x00")}}
	got := Text(rec)
	if strings.Contains(got, "\n") || !strings.HasPrefix(got, "1970-01-01T00:00:00.000000000Z sw1 file:/x ") {
		t.Errorf("Text = %q", got)
	}
	rec.Body = []byte("Failed password for root")
	if got := Text(rec); !strings.HasSuffix(got, " Failed password for root") {
		t.Errorf("Text = %q, want the body as is", got)
	}
}

// TestWrite: records from a real store come out one JSON object a line,
// in order.
func TestWrite(t *testing.T) {
	t.Parallel()
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "x.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dev := batchtest.NewDevice("d")
	f := batchtest.NewFile("file:/x", 1, 1)
	var sent []seal.WireRecord
	for i := range 3 {
		recs := f.Lines(4, 30)
		sent = append(sent, recs...)
		if err := s.CommitBatch(context.Background(), batchtest.Commit("d", dev.Next(recs...), uint64(i))); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	n, err := Write(context.Background(), s, store.RecordQuery{}, FormatJSON, &out)
	if err != nil || n != 12 {
		t.Fatalf("Write = %d, %v; want 12", n, err)
	}
	sc := bufio.NewScanner(&out)
	i := 0
	for sc.Scan() {
		var j JSONRecord
		if err := json.Unmarshal(sc.Bytes(), &j); err != nil {
			t.Fatal(err)
		}
		if *j.Body != string(sent[i].Body) || j.Seq != uint64(i/4+1) || *j.FileStart != sent[i].File.Start {
			t.Errorf("line %d = %s", i, sc.Text())
		}
		i++
	}
	out.Reset()
	if n, err := Write(context.Background(), s, store.RecordQuery{}, FormatText, &out); err != nil || n != 12 || strings.Count(out.String(), "\n") != 12 {
		t.Errorf("text Write = %d, %v:\n%s", n, err, out.String())
	}
}
