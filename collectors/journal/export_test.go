package journal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// binaryField is NAME\n, the length, the value and \n.
func binaryField(name string, v []byte) string {
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(v)))
	return name + "\n" + string(n[:]) + string(v) + "\n"
}

const cursor1 = "s=6e7f281cff134d888eea5ba96d6c3990;i=1f;b=0123456789abcdef0123456789abcdef;m=3e8;t=60a24181e4000;x=70ffaafa2274e960"

var decodeCases = []struct {
	name string
	in   string
	want []Entry
	err  error // after the entries
}{
	{"text", "__CURSOR=" + cursor1 + "\n__REALTIME_TIMESTAMP=1700000000000001\n_BOOT_ID=b1\nMESSAGE=hello = world\n_SYSTEMD_UNIT=ssh.service\nPRIORITY=6\n_PID=42\n_UID=0\nSYSLOG_IDENTIFIER=sshd\nOTHER=x\n\n",
		[]Entry{{Cursor: cursor1, Realtime: time.UnixMicro(1700000000000001), Message: []byte("hello = world"), Unit: "ssh.service",
			Priority: "6", PID: "42", UID: "0", BootID: "b1", Identifier: "sshd"}}, io.EOF},
	{"binary message", "__CURSOR=c\n" + binaryField("MESSAGE", []byte("a\nb\x00\xff")) + "PRIORITY=3\n\n\n__CURSOR=d\nMESSAGE=\n\n",
		[]Entry{{Cursor: "c", Message: []byte("a\nb\x00\xff"), Priority: "3"}, {Cursor: "d", Message: []byte{}}}, io.EOF},
	{"cut inside entry", "__CURSOR=c\nMESSAGE=x\n", nil, io.ErrUnexpectedEOF},
	{"cut inside binary", "__CURSOR=c\nMESSAGE\n\x05\x00\x00\x00\x00\x00\x00\x00ab", nil, io.ErrUnexpectedEOF},
	{"huge binary length", "MESSAGE\n\xff\xff\xff\xff\xff\xff\xff\xff", nil, errEntryTooLarge},
	{"bad realtime", "__REALTIME_TIMESTAMP=abc\n\n", nil, errors.New("bad realtime")},
	{"empty", "", nil, io.EOF},
}

func decodeAll(in []byte) ([]Entry, error) {
	d := NewDecoder(bytes.NewReader(in))
	var out []Entry
	for {
		e, err := d.Next()
		if err != nil {
			return out, err
		}
		out = append(out, e)
	}
}

func TestDecoder(t *testing.T) {
	t.Parallel()
	for _, tc := range decodeCases {
		got, err := decodeAll([]byte(tc.in))
		if len(got) != len(tc.want) {
			t.Errorf("%s: %d entries %+v, want %d", tc.name, len(got), got, len(tc.want))
			continue
		}
		for i := range got {
			g, w := got[i], tc.want[i]
			if !bytes.Equal(g.Message, w.Message) || g.Cursor != w.Cursor || !g.Realtime.Equal(w.Realtime) || g.Unit != w.Unit ||
				g.Priority != w.Priority || g.PID != w.PID || g.UID != w.UID || g.BootID != w.BootID || g.Identifier != w.Identifier {
				t.Errorf("%s: entry %d\n got %+v\nwant %+v", tc.name, i, g, w)
			}
		}
		if tc.err == io.EOF || tc.err == io.ErrUnexpectedEOF || tc.err == errEntryTooLarge {
			if err != tc.err {
				t.Errorf("%s: error %v, want %v", tc.name, err, tc.err)
			}
		} else if err == nil || err == io.EOF {
			t.Errorf("%s: error %v, want a parse error", tc.name, err)
		}
	}
}

func TestParseCursor(t *testing.T) {
	t.Parallel()
	p, ok := ParseCursor(cursor1)
	if !ok || p.Seqnum != 0x1f || p.Cursor() != "s=6e7f281cff134d888eea5ba96d6c3990;i=1f" {
		t.Fatalf("ParseCursor: %+v %v, cursor %q", p, ok, p.Cursor())
	}
	for _, bad := range []string{"", "s=zz;i=1", "s=6e7f281cff134d888eea5ba96d6c3990", "i=5", "s=6e7f;i=1", "s=6e7f281cff134d888eea5ba96d6c3990;i=xyz"} {
		if _, ok := ParseCursor(bad); ok {
			t.Errorf("ParseCursor(%q) ok", bad)
		}
	}
}

func FuzzDecoder(f *testing.F) {
	for _, tc := range decodeCases {
		f.Add([]byte(tc.in))
	}
	f.Add([]byte(cursor1))
	f.Fuzz(func(t *testing.T, b []byte) {
		es, _ := decodeAll(b)
		for _, e := range es {
			if len(e.Message) > len(b) {
				t.Fatalf("message of %d bytes from %d bytes of input", len(e.Message), len(b))
			}
		}
		if p, ok := ParseCursor(string(b)); ok && !strings.Contains(string(b), "i=") {
			t.Fatalf("cursor %+v without i=", p)
		}
	})
}
