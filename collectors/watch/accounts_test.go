package watch

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/offbox/offbox/collectors"
)

var (
	hashA = fakeHash("table a")
	hashB = fakeHash("table b")
)

// shadowCases are the unit table and the fuzz seeds.
var shadowCases = []struct {
	name string
	in   string
	want []shadowEntry // hash() is checked too
	bad  []int
}{
	{"debian", "root:" + hashA + ":19000:0:99999:7:::\ndaemon:*:18000:0:99999:7:::\n",
		[]shadowEntry{{User: "root", LastChange: 19000, hash: newSecret(hashA)}, {User: "daemon", LastChange: 18000, Locked: true, hash: newSecret("*")}}, nil},
	{"locked, empty, no date", "a:!" + hashB + "::::::\nb::19001::::::\nc:!!:\n",
		[]shadowEntry{{User: "a", LastChange: -1, Locked: true, hash: newSecret("!" + hashB)}, {User: "b", LastChange: 19001, NoPassword: true, hash: newSecret("")}, {User: "c", LastChange: -1, Locked: true, hash: newSecret("!!")}}, nil},
	{"openwrt busybox, CRLF, no final newline", "root:$1$abc$def:0:0:99999:7:::\r\nnobody:*:0:0:99999:7:::",
		[]shadowEntry{{User: "root", LastChange: 0, hash: newSecret("$1$abc$def")}, {User: "nobody", LastChange: 0, Locked: true, hash: newSecret("*")}}, nil},
	{"comments, blanks, malformed, repeats", "# c\n\n   \nnouser\n:x:1\nu:h1:5\nu:h2:6\nv:h:notanumber\nw:h:-3\n",
		[]shadowEntry{{User: "u", LastChange: 5, hash: newSecret("h1")}, {User: "v", LastChange: -1, hash: newSecret("h")}, {User: "w", LastChange: -1, hash: newSecret("h")}}, []int{4, 5}},
	{"empty", "", nil, nil},
}

func TestParseShadow(t *testing.T) {
	t.Parallel()
	for _, tc := range shadowCases {
		got, bad := parseShadow([]byte(tc.in))
		if fmt.Sprint(bad) != fmt.Sprint(tc.bad) {
			t.Errorf("%s: bad lines %v, want %v", tc.name, bad, tc.bad)
		}
		if len(got) != len(tc.want) {
			t.Fatalf("%s: %d entries, want %d", tc.name, len(got), len(tc.want))
		}
		for i, w := range tc.want {
			g := got[i]
			if g.User != w.User || g.LastChange != w.LastChange || g.Locked != w.Locked || g.NoPassword != w.NoPassword || g.hash() != w.hash() {
				t.Errorf("%s: entry %d = %+v %q, want %+v %q", tc.name, i, g, g.hash(), w, w.hash())
			}
		}
	}
}

var passwdCases = []struct {
	name string
	in   string
	want []account
	bad  []int
}{
	{"debian", "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
		[]account{{User: "root", Home: "/root", Shell: "/bin/bash", pw: newSecret("x")}, {User: "nobody", UID: 65534, GID: 65534, Home: "/nonexistent", Shell: "/usr/sbin/nologin", pw: newSecret("x")}}, nil},
	{"hash in passwd, empty password", "root:" + hashA + ":0:0::/root:/bin/ash\nguest::1000:1000::/tmp:\r\n",
		[]account{{User: "root", Home: "/root", Shell: "/bin/ash", pw: newSecret(hashA)}, {User: "guest", UID: 1000, GID: 1000, Home: "/tmp", NoPassword: true, pw: newSecret("")}}, nil},
	{"malformed and repeats", "# x\nshort:x:1:1\nbaduid:x:-1:0::/:/bin/sh\nbig:x:4294967296:0::/:/bin/sh\nmax:x:4294967295:0::/:/bin/sh\nmax:x:0:0::/:/bin/sh\n",
		[]account{{User: "max", UID: 4294967295, Home: "/", Shell: "/bin/sh", pw: newSecret("x")}}, []int{2, 3, 4}},
}

func TestParsePasswd(t *testing.T) {
	t.Parallel()
	for _, tc := range passwdCases {
		got, bad := parsePasswd([]byte(tc.in))
		if fmt.Sprint(bad) != fmt.Sprint(tc.bad) {
			t.Errorf("%s: bad lines %v, want %v", tc.name, bad, tc.bad)
		}
		if len(got) != len(tc.want) {
			t.Fatalf("%s: %d accounts, want %d", tc.name, len(got), len(tc.want))
		}
		for i, w := range tc.want {
			g := got[i]
			if g.User != w.User || g.UID != w.UID || g.GID != w.GID || g.Home != w.Home || g.Shell != w.Shell || g.NoPassword != w.NoPassword || g.pw() != w.pw() {
				t.Errorf("%s: account %d = %+v %q, want %+v %q", tc.name, i, g, g.pw(), w, w.pw())
			}
		}
	}
}

// TestParsedEntriesNeverPrintHash: printing or marshalling what the parsers
// return, the way a careless log line would, shows no hash.
func TestParsedEntriesNeverPrintHash(t *testing.T) {
	t.Parallel()
	s, _ := parseShadow([]byte("root:" + hashA + ":1:::::\n"))
	p, _ := parsePasswd([]byte("root:" + hashB + ":0:0::/root:/bin/sh\n"))
	j1, _ := json.Marshal(s)
	j2, _ := json.Marshal(p)
	var out strings.Builder
	for _, v := range []any{s, p, s[0], p[0], &s[0], &p[0]} {
		fmt.Fprintf(&out, "%v %+v %#v %s\n", v, v, v, v)
	}
	var logged strings.Builder
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("x", "s", s, "p", p)
	leakCheck(t, nil, out.String()+string(j1)+string(j2)+logged.String(), hashA, hashB)
}

// displayLines mirrors the parsers' line rules independently: the lines
// they look at, without line endings.
func displayLines(in []byte) []string {
	var out []string
	for _, l := range strings.Split(string(in), "\n") {
		l = strings.TrimSuffix(l, "\r")
		if strings.TrimSpace(l) == "" || l[0] == '#' {
			continue
		}
		out = append(out, l)
	}
	return out
}

// replaceHashField gives every line another second field of the same kind
// (empty stays empty, a leading ! or * stays): what may differ in records.
func replaceHashField(lines []string) []byte {
	var b strings.Builder
	for _, l := range lines {
		f := strings.Split(l, ":")
		if len(f) >= 2 && f[1] != "" {
			prefix := ""
			if f[1][0] == '!' || f[1][0] == '*' {
				prefix = f[1][:1]
			}
			f[1] = prefix + "REPLACED"
		}
		b.WriteString(strings.Join(f, ":") + "\n")
	}
	return []byte(b.String())
}

// recordsOf is what the collector would emit for these entries: a password
// change of each and the age record.
func recordsOf(entries []shadowEntry, accts []account) string {
	e := &fakeEmitter{}
	r := &runner{
		c:   &Collector{now: func() time.Time { return time.Unix(1.7e9, 0) }, log: slog.New(slog.NewTextHandler(io.Discard, nil)), shadow: "/etc/shadow"},
		ctx: context.Background(), out: e, key: []byte("k"), problems: map[string]string{},
		shadow: shadowTrack{known: true, users: map[string]shadowUser{}},
	}
	for _, s := range entries {
		u := shadowUser{lastChange: s.LastChange, locked: s.Locked, noPassword: s.NoPassword}
		r.shadow.users[s.User] = u
		r.shadow.order = append(r.shadow.order, s.User)
		r.emitPasswordChange("/etc/shadow", s.User, u)
	}
	r.emitAge()
	for _, a := range accts {
		r.emitAccount("/etc/passwd", "added", a, &a)
	}
	var b strings.Builder
	for _, rec := range e.all() {
		fmt.Fprintf(&b, "%v %s %s %v\n", rec.Kind, rec.Source, rec.Body, rec.Attrs)
	}
	return b.String()
}

func FuzzParseShadow(f *testing.F) {
	for _, tc := range shadowCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		entries, bad := parseShadow(in)
		lines := displayLines(in)
		if len(entries)+len(bad) > len(lines) {
			t.Fatalf("%d entries and %d bad lines from %d lines", len(entries), len(bad), len(lines))
		}
		// Each display field is its own column of the user's first line.
		first := map[string][]string{}
		for _, l := range lines {
			if f := strings.Split(l, ":"); len(f) >= 2 && f[0] != "" && first[f[0]] == nil {
				first[f[0]] = f
			}
		}
		if len(first) != len(entries) {
			t.Fatalf("%d entries, want %d users", len(entries), len(first))
		}
		for _, e := range entries {
			f := first[e.User]
			if f == nil || e.hash() != f[1] || e.NoPassword != (f[1] == "") || e.Locked != (strings.HasPrefix(f[1], "!") || strings.HasPrefix(f[1], "*")) {
				t.Fatalf("entry %+v does not match its line's fields %q", e, f)
			}
			if e.LastChange >= 0 {
				if n, err := strconv.ParseInt(f[2], 10, 64); err != nil || n != e.LastChange {
					t.Fatalf("last change %d from field %q", e.LastChange, f[2])
				}
			}
		}
		// Records depend on the hash field only through locked and empty.
		other, _ := parseShadow(replaceHashField(lines))
		if a, b := recordsOf(entries, nil), recordsOf(other, nil); a != b {
			t.Fatalf("records change with the hash field:\n%s\n%s", a, b)
		}
		r := &runner{key: []byte("k")}
		for i := range entries {
			if (entries[i].hash() == other[i].hash()) != (r.digest(entries[i].hash) == r.digest(other[i].hash)) {
				t.Fatalf("digest equality differs from hash equality for %q", entries[i].User)
			}
		}
	})
}

func FuzzParsePasswd(f *testing.F) {
	for _, tc := range passwdCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		accts, bad := parsePasswd(in)
		lines := displayLines(in)
		if len(accts)+len(bad) > len(lines) {
			t.Fatalf("%d accounts and %d bad lines from %d lines", len(accts), len(bad), len(lines))
		}
		seen := map[string]bool{}
		i := 0
		for _, l := range lines {
			f := strings.Split(l, ":")
			if len(f) < 7 || f[0] == "" || seen[f[0]] {
				continue
			}
			uid, err1 := strconv.ParseUint(f[2], 10, 32)
			gid, err2 := strconv.ParseUint(f[3], 10, 32)
			if err1 != nil || err2 != nil {
				continue
			}
			seen[f[0]] = true
			if i >= len(accts) {
				t.Fatalf("account of line %q missing", l)
			}
			a := accts[i]
			i++
			if a.User != f[0] || a.pw() != f[1] || a.UID != uint32(uid) || a.GID != uint32(gid) || a.Home != f[5] || a.Shell != strings.Join(f[6:], ":") || a.NoPassword != (f[1] == "") {
				t.Fatalf("account %+v does not match its line's fields %q", a, f)
			}
		}
		if i != len(accts) {
			t.Fatalf("%d accounts, want %d", len(accts), i)
		}
		other, _ := parsePasswd(replaceHashField(lines))
		if a, b := recordsOf(nil, accts), recordsOf(nil, other); a != b {
			t.Fatalf("records change with the password field:\n%s\n%s", a, b)
		}
	})
}

var _ collectors.Emitter = (*fakeEmitter)(nil)
