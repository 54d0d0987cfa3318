package watch

import (
	"context"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/offbox/offbox/internal/lockedbuf"

	"github.com/offbox/offbox/collectors"
)

// fakeHash is a crypt(3)-looking SHA-512 hash, different for every seed.
func fakeHash(seed string) string {
	sum := sha512.Sum512([]byte(seed))
	salt := base64.RawStdEncoding.EncodeToString(sum[:12])
	sum = sha512.Sum512(sum[:])
	return "$6$" + salt + "$" + base64.RawStdEncoding.EncodeToString(sum[:])
}

func day(date string) int64 {
	t, err := time.Parse(time.DateOnly, date)
	if err != nil {
		panic(err)
	}
	return epochDay(t)
}

// shadowLine is one shadow(5) line; lastChange < 0 leaves field 3 empty.
func shadowLine(user, hash string, lastChange int64) string {
	lc := ""
	if lastChange >= 0 {
		lc = strconv.FormatInt(lastChange, 10)
	}
	return user + ":" + hash + ":" + lc + ":0:99999:7:::"
}

const hostsV1 = "127.0.0.1 localhost\n::1 localhost\n"
const hostsV2 = "127.0.0.1 localhost\n::1 localhost\n10.0.0.1 evil.example\n"

// baseline starts c on h and waits for the password_age record that ends
// its first scan: changes after it are changes.
func baseline(t *testing.T, c *Collector) (*fakeEmitter, func() error) {
	t.Helper()
	e, stop := run(t, c)
	e.waitN(t, 5*time.Second, collectors.KindPasswordAge, "", 1)
	return e, stop
}

// TestConfigFileEditOneRecord is test 1: an edit in place and an edit by
// rename each yield exactly one config_change within 2 s with the right
// hashes, and a diff only where DiffPaths asks for one.
func TestConfigFileEditOneRecord(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		rename bool
		diff   bool
	}{
		{"in place", false, false},
		{"rename over", true, false},
		{"in place with diff", false, true},
		{"rename over with diff", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHost(t)
			h.write("etc/hosts", hostsV1)
			h.write("etc/passwd", passwdFor())
			h.write("etc/shadow", shadowLine("alice", fakeHash("a"), 19000)+"\n")
			cfg := Config{Root: h.root, Paths: []string{"/etc/hosts"}, RescanEvery: time.Hour}
			if tc.diff {
				cfg.DiffPaths = []string{"/etc/h*"}
			}
			e, _ := baseline(t, newCollector(t, cfg))
			start := time.Now()
			if tc.rename {
				h.replace("etc/hosts", hostsV2)
			} else {
				h.write("etc/hosts", hostsV2)
			}
			e.waitN(t, 2*time.Second, collectors.KindConfigChange, "", 1)
			t.Logf("record after %v", time.Since(start))
			time.Sleep(quiet)
			recs := e.of(collectors.KindConfigChange, "")
			if len(recs) != 1 {
				t.Fatalf("got %d config_change records, want exactly 1:\n%s", len(recs), dump(recs))
			}
			r := recs[0]
			if r.Source != "watch:/etc/hosts" {
				t.Errorf("source = %q, want watch:/etc/hosts", r.Source)
			}
			for k, want := range map[string]string{"path": "/etc/hosts", "change": "modified", "old_sha256": sha(hostsV1), "new_sha256": sha(hostsV2)} {
				if got := attr(r, k); got != want {
					t.Errorf("attr %s = %q, want %q", k, got, want)
				}
			}
			b := decode[map[string]any](t, r)
			fi, err := os.Stat(h.path("etc/hosts"))
			if err != nil {
				t.Fatal(err)
			}
			for k, want := range map[string]any{
				"path": "/etc/hosts", "change": "modified", "old_sha256": sha(hostsV1), "new_sha256": sha(hostsV2),
				"size": float64(len(hostsV2)), "mode": "0644", "uid": float64(os.Getuid()), "gid": float64(os.Getgid()),
				"owner": "tester", "mtime": fi.ModTime().UTC().Format(time.RFC3339Nano),
			} {
				if got := b[k]; got != want {
					t.Errorf("body %s = %v, want %v", k, got, want)
				}
			}
			diff, hasDiff := b["diff"].(string)
			if hasDiff != tc.diff {
				t.Fatalf("diff present = %v, want %v: %s", hasDiff, tc.diff, r.Body)
			}
			if tc.diff {
				want := "--- a/etc/hosts\n+++ b/etc/hosts\n@@ -1,2 +1,3 @@\n 127.0.0.1 localhost\n ::1 localhost\n+10.0.0.1 evil.example\n"
				if diff != want || b["diff_truncated"] != false {
					t.Errorf("diff = %q (truncated %v), want %q (false)", diff, b["diff_truncated"], want)
				}
			} else if _, ok := b["diff_truncated"]; ok {
				t.Errorf("diff_truncated in a record without diff: %s", r.Body)
			}
		})
	}
}

// TestConfigFileChangeKinds steps one collector through creating, chmod,
// chown, touching and deleting watched files: each step yields exactly the
// records listed, nothing for a touch.
func TestConfigFileChangeKinds(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	h.write("etc/passwd", passwdFor())
	h.write("etc/shadow", shadowLine("alice", fakeHash("a"), 19000)+"\n")
	h.write("etc/sudoers", "root ALL=(ALL) ALL\n")
	h.write("etc/sudoers.d/README", "read me\n")
	e, _ := baseline(t, newCollector(t, Config{
		Root: h.root, Paths: []string{"/etc/sudoers", "/etc/sudoers.d/*"},
		DiffPaths: []string{"/etc/sudoers.d/*"}, RescanEvery: time.Hour,
	}))
	const evil = "evil ALL=(ALL) NOPASSWD: ALL\n"
	type want struct{ path, change, oldSum, newSum string }
	steps := []struct {
		name string
		do   func()
		want []want
	}{
		{"new file matching a glob", func() { h.write("etc/sudoers.d/evil", evil) },
			[]want{{"/etc/sudoers.d/evil", "created", "", sha(evil)}}},
		{"editor swap file is not watched", func() { h.write("etc/sudoers.d/.evil.swp", "swap") }, nil},
		{"chmod", func() { os.Chmod(h.path("etc/sudoers"), 0o640|os.ModeSetuid) },
			[]want{{"/etc/sudoers", "metadata", sha("root ALL=(ALL) ALL\n"), sha("root ALL=(ALL) ALL\n")}}},
		{"touch", func() {
			now := time.Now().Add(time.Hour)
			os.Chtimes(h.path("etc/sudoers"), now, now)
		}, nil},
		{"delete", func() { os.Remove(h.path("etc/sudoers.d/evil")) },
			[]want{{"/etc/sudoers.d/evil", "deleted", sha(evil), ""}}},
	}
	if os.Getuid() == 0 {
		steps = append(steps, struct {
			name string
			do   func()
			want []want
		}{"chown", func() { os.Chown(h.path("etc/sudoers"), 1000, 1000) },
			[]want{{"/etc/sudoers", "metadata", sha("root ALL=(ALL) ALL\n"), sha("root ALL=(ALL) ALL\n")}}})
	}
	seen := 0
	for _, s := range steps {
		s.do()
		if len(s.want) > 0 {
			e.waitN(t, 2*time.Second, collectors.KindConfigChange, "", seen+len(s.want))
		}
		time.Sleep(quiet)
		got := e.of(collectors.KindConfigChange, "")[seen:]
		if len(got) != len(s.want) {
			t.Fatalf("%s: got %d records, want %d:\n%s", s.name, len(got), len(s.want), dump(got))
		}
		for i, w := range s.want {
			r := got[i]
			if attr(r, "path") != w.path || attr(r, "change") != w.change || attr(r, "old_sha256") != w.oldSum || attr(r, "new_sha256") != w.newSum {
				t.Errorf("%s: got %v, want %+v", s.name, r.Attrs, w)
			}
			b := decode[changeBody](t, r)
			switch s.name {
			case "chmod":
				if b.Mode != "4640" || b.OldMode != "0644" {
					t.Errorf("chmod: mode %q old %q, want 4640 and 0644", b.Mode, b.OldMode)
				}
			case "chown":
				if *b.UID != 1000 || b.Owner != "alice" || b.OldOwner != "tester" {
					t.Errorf("chown: uid %d owner %q old owner %q, want 1000 alice tester", *b.UID, b.Owner, b.OldOwner)
				}
			case "new file matching a glob":
				if !strings.Contains(b.Diff, "+"+evil) || b.Size == nil || *b.Size != int64(len(evil)) {
					t.Errorf("created: diff %q size %v, want the added line and %d", b.Diff, b.Size, len(evil))
				}
			case "delete":
				if !strings.Contains(b.Diff, "-"+evil) || b.Size != nil || b.Mode != "" {
					t.Errorf("deleted: diff %q size %v mode %q, want the removed line and no new state", b.Diff, b.Size, b.Mode)
				}
			}
		}
		seen += len(got)
	}
}

// TestRescanWithoutInotify: with no inotify events at all, the periodic
// rescan alone finds an edit and a new glob match, each once.
func TestRescanWithoutInotify(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	h.write("etc/passwd", passwdFor())
	h.write("etc/shadow", shadowLine("alice", fakeHash("a"), 19000)+"\n")
	h.write("etc/hosts", hostsV1)
	c := newCollector(t, Config{Root: h.root, Paths: []string{"/etc/hosts", "/etc/frr/*.conf"}, RescanEvery: 50 * time.Millisecond})
	c.noNotify = true
	e, _ := baseline(t, c)
	h.replace("etc/hosts", hostsV2)
	h.write("etc/frr/frr.conf", "router bgp 65000\n")
	e.waitN(t, 2*time.Second, collectors.KindConfigChange, "", 2)
	time.Sleep(quiet)
	got := e.of(collectors.KindConfigChange, "")
	if len(got) != 2 {
		t.Fatalf("got %d records, want 2:\n%s", len(got), dump(got))
	}
	byPath := map[string]collectors.Record{}
	for _, r := range got {
		byPath[attr(r, "path")] = r
	}
	if r := byPath["/etc/hosts"]; attr(r, "change") != "modified" || attr(r, "new_sha256") != sha(hostsV2) {
		t.Errorf("/etc/hosts: %v, want modified to %s", r.Attrs, sha(hostsV2))
	}
	if r := byPath["/etc/frr/frr.conf"]; attr(r, "change") != "created" || attr(r, "new_sha256") != sha("router bgp 65000\n") {
		t.Errorf("/etc/frr/frr.conf: %v, want created", r.Attrs)
	}
	// The glob matched nothing at start (its directory was missing): one
	// status then, one when it matched.
	st := e.of(collectors.KindAgentStatus, "watch:/etc/frr/*.conf")
	if len(st) != 2 || attr(st[0], "error") != "no file matches: directory /etc/frr is missing" || attr(st[1], "status") != "matches files again" {
		t.Errorf("status records of the glob:\n%s", dump(st))
	}
}

// leakCheck fails if any record (source, body, attributes) or the log holds
// one of the secrets or any 16-byte piece of one.
func leakCheck(t *testing.T, recs []collectors.Record, log string, secrets ...string) {
	t.Helper()
	var hay []string
	for _, r := range recs {
		hay = append(hay, r.Source, string(r.Body))
		for _, a := range r.Attrs {
			hay = append(hay, a.Key, a.Value)
		}
	}
	hay = append(hay, log)
	all := strings.Join(hay, "\x00")
	for _, s := range secrets {
		for i := 0; i+16 <= len(s); i++ {
			if piece := s[i : i+16]; strings.Contains(all, piece) {
				t.Fatalf("a record or the log holds %q, a piece of a password hash", piece)
			}
		}
	}
}

// TestPasswordChangeNeverLeaksHash is test 2: changing one user's hash in
// shadow yields a password_change for that user only; locking another
// yields one with locked=true; and no record or log line of the whole run
// (start, changes, age records, config records of every file in /etc with
// diffs on) holds any 16-byte piece of any hash.
func TestPasswordChangeNeverLeaksHash(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	rootH, aliceOld, aliceNew, bobH := fakeHash("root"), fakeHash("alice old"), fakeHash("alice new"), fakeHash("bob")
	secrets := []string{rootH, aliceOld, aliceNew, bobH, "!" + bobH}
	shadow := func(alice string, aliceDay int64, bob string) string {
		return strings.Join([]string{
			shadowLine("root", rootH, 19000),
			shadowLine("daemon", "*", 18000),
			shadowLine("alice", alice, aliceDay),
			shadowLine("bob", bob, 19500),
			shadowLine("guest", "", -1),
		}, "\n") + "\n"
	}
	h.write("etc/shadow", shadow(aliceOld, 19000, bobH))
	os.Chmod(h.path("etc/shadow"), 0o640)
	h.write("etc/shadow-", shadow(aliceOld, 19000, bobH)) // the backup shadow(8) tools keep
	h.write("etc/gshadow", "sudo:"+rootH+"::alice\n")
	h.write("etc/passwd", passwdFor("root:x:0:0:root:/root:/bin/sh", "bob:x:1001:1001::/home/bob:/bin/sh"))
	h.write("etc/hosts", hostsV1)
	logs := &lockedbuf.Buffer{}
	// Every file of /etc is a config file with a diff: the shadow files
	// must still never be read as config.
	e, stop := baseline(t, newCollector(t, Config{
		Root: h.root, Paths: []string{"/etc/*"}, DiffPaths: []string{"/*", "/etc/*"},
		AgeEvery: 300 * time.Millisecond, RescanEvery: 100 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}))

	newDay := day("2024-10-04")
	h.replace("etc/shadow", shadow(aliceNew, newDay, bobH))
	h.write("etc/shadow-", shadow(aliceNew, newDay, bobH))
	e.waitN(t, 2*time.Second, collectors.KindPasswordChange, "", 1)
	time.Sleep(quiet)
	pc := e.of(collectors.KindPasswordChange, "")
	if len(pc) != 1 {
		t.Fatalf("got %d password_change records, want 1 (alice):\n%s", len(pc), dump(pc))
	}
	r := pc[0]
	for k, want := range map[string]string{"user": "alice", "last_change_day": strconv.FormatInt(newDay, 10), "last_change": "2024-10-04", "locked": "false", "no_password": "false"} {
		if got := attr(r, k); got != want {
			t.Errorf("attr %s = %q, want %q", k, got, want)
		}
	}
	if r.Source != "watch:/etc/shadow" {
		t.Errorf("source %q, want watch:/etc/shadow", r.Source)
	}
	if b := decode[passwordBody](t, r); b.User != "alice" || b.LastChangeDay == nil || *b.LastChangeDay != newDay || b.LastChange != "2024-10-04" || b.Locked {
		t.Errorf("body %s", r.Body)
	}

	h.replace("etc/shadow", shadow(aliceNew, newDay, "!"+bobH)) // passwd -l bob
	pc = e.waitN(t, 2*time.Second, collectors.KindPasswordChange, "", 2)
	if r := pc[1]; attr(r, "user") != "bob" || attr(r, "locked") != "true" {
		t.Errorf("locking bob: %v, want user bob locked true", r.Attrs)
	}
	e.waitN(t, 3*time.Second, collectors.KindPasswordAge, "", 3) // the start one and periodic ones
	h.write("etc/hosts", hostsV2)                                // a config record with a diff in the mix
	e.waitN(t, 2*time.Second, collectors.KindConfigChange, "watch:/etc/hosts", 1)
	stop()

	recs := e.all()
	for _, r := range recs {
		if p := attr(r, "path"); r.Kind == collectors.KindConfigChange && strings.Contains(p, "shadow") {
			t.Errorf("%s was watched as a config file: %s", p, r.Body)
		}
	}
	leakCheck(t, recs, logs.String(), secrets...)
	t.Logf("checked %d records and %d bytes of log", len(recs), len(logs.String()))
}

// TestAccountChanges is test 3: an account added with uid 0, changed and
// removed yields one account_change per step with the right action and
// uid0 flag.
func TestAccountChanges(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	h.write("etc/shadow", shadowLine("alice", fakeHash("a"), 19000)+"\n")
	h.write("etc/passwd", passwdFor())
	e, _ := baseline(t, newCollector(t, Config{Root: h.root, Paths: []string{}, RescanEvery: time.Hour}))
	const evil = "toor:x:0:0::/root:/bin/sh"
	steps := []struct {
		name    string
		passwd  string
		replace bool
		want    map[string]string
	}{
		{"uid 0 account added", passwdFor(evil), true,
			map[string]string{"action": "added", "user": "toor", "uid": "0", "gid": "0", "shell": "/bin/sh", "home": "/root", "uid0": "true", "no_password": "false"}},
		{"service account added", passwdFor(evil, "svc:x:999:999::/srv:/usr/sbin/nologin"), false,
			map[string]string{"action": "added", "user": "svc", "uid0": "false"}},
		{"shell changed in place", passwdFor(evil, "svc:x:999:999::/srv:/bin/bash"), false,
			map[string]string{"action": "changed", "user": "svc", "shell": "/bin/bash", "old_shell": "/usr/sbin/nologin", "uid0": "false"}},
		{"uid changed to 0", passwdFor(evil, "svc:x:0:999::/srv:/bin/bash"), true,
			map[string]string{"action": "changed", "user": "svc", "uid": "0", "old_uid": "999", "uid0": "true"}},
		{"uid 0 account removed", passwdFor("svc:x:0:999::/srv:/bin/bash"), true,
			map[string]string{"action": "removed", "user": "toor", "uid": "0", "uid0": "true"}},
	}
	for i, s := range steps {
		if s.replace {
			h.replace("etc/passwd", s.passwd)
		} else {
			h.write("etc/passwd", s.passwd)
		}
		e.waitN(t, 2*time.Second, collectors.KindAccountChange, "watch:/etc/passwd", i+1)
		time.Sleep(quiet)
		got := e.of(collectors.KindAccountChange, "")
		if len(got) != i+1 {
			t.Fatalf("%s: %d account_change records in all, want %d:\n%s", s.name, len(got), i+1, dump(got))
		}
		r := got[i]
		for k, want := range s.want {
			if v := attr(r, k); v != want {
				t.Errorf("%s: attr %s = %q, want %q", s.name, k, v, want)
			}
		}
		b := decode[accountBody](t, r)
		if b.Action != s.want["action"] || b.User != s.want["user"] || strconv.FormatBool(b.UID0) != s.want["uid0"] {
			t.Errorf("%s: body %s disagrees with %v", s.name, r.Body, s.want)
		}
	}
	if n := len(e.of(collectors.KindPasswordChange, "")); n != 0 {
		t.Errorf("%d password_change records for passwd edits that kept every password field", n)
	}
}

// TestPasswordAgeAtStart is test 4: the password_age record sent at start
// has the right ages for an injected clock, lists locked and passwordless
// users flagged, and names the oldest password in use.
func TestPasswordAgeAtStart(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	h.write("etc/passwd", passwdFor())
	h.write("etc/shadow", strings.Join([]string{
		shadowLine("root", fakeHash("r"), day("2025-06-14")),
		shadowLine("alice", fakeHash("a"), day("2024-06-15")),
		shadowLine("daemon", "*", day("2020-01-01")),            // locked: older, but not in use
		shadowLine("old", "!"+fakeHash("o"), day("2019-01-01")), // locked
		shadowLine("guest", "", -1),
		shadowLine("newbie", fakeHash("n"), 0), // must change at next login
		"# a comment",
		"",
	}, "\n"))
	now := time.Date(2025, 6, 15, 23, 59, 0, 0, time.UTC)
	e, _ := baseline(t, newCollector(t, Config{Root: h.root, Paths: []string{}, Now: func() time.Time { return now }, RescanEvery: time.Hour}))
	r := e.of(collectors.KindPasswordAge, "")[0]
	if r.Source != "watch:/etc/shadow" || !r.Time.Equal(now) {
		t.Errorf("source %q time %v, want watch:/etc/shadow at %v", r.Source, r.Time, now)
	}
	for k, want := range map[string]string{"users": "6", "oldest_user": "alice", "oldest_days": "365"} {
		if got := attr(r, k); got != want {
			t.Errorf("attr %s = %q, want %q", k, got, want)
		}
	}
	i64 := func(v int64) *int64 { return &v }
	want := []PasswordAge{
		{User: "root", LastChange: "2025-06-14", AgeDays: i64(1)},
		{User: "alice", LastChange: "2024-06-15", AgeDays: i64(365)},
		{User: "daemon", LastChange: "2020-01-01", AgeDays: i64(1992), Locked: true},
		{User: "old", LastChange: "2019-01-01", AgeDays: i64(2357), Locked: true},
		{User: "guest", NoPassword: true},
		{User: "newbie", LastChange: "1970-01-01", AgeDays: i64(day("2025-06-15")), MustChange: true},
	}
	got := decode[[]PasswordAge](t, r)
	if g, w := ageString(got), ageString(want); g != w {
		t.Errorf("password ages:\ngot  %s\nwant %s", g, w)
	}
}

func ageString(as []PasswordAge) string {
	var b strings.Builder
	for _, a := range as {
		age := "null"
		if a.AgeDays != nil {
			age = strconv.FormatInt(*a.AgeDays, 10)
		}
		fmt.Fprintf(&b, "{%s %q %s locked=%v nopw=%v must=%v} ", a.User, a.LastChange, age, a.Locked, a.NoPassword, a.MustChange)
	}
	return b.String()
}

// TestPasswordAgeEveryPeriod: a password_age record comes at start and then
// once per AgeEvery, its ages counted on the clock. Runs on synctest's fake
// clock (inotify is off: its reader is never idle in the bubble's sense).
func TestPasswordAgeEveryPeriod(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	h.write("etc/passwd", passwdFor())
	h.write("etc/shadow", shadowLine("alice", fakeHash("a"), 10000)+"\n")
	synctest.Test(t, func(t *testing.T) {
		c := newCollector(t, Config{Root: h.root, Paths: []string{}, RescanEvery: 7 * time.Hour, AgeEvery: 24 * time.Hour})
		c.noNotify = true
		e := &fakeEmitter{}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- c.Run(ctx, e) }()
		synctest.Wait()
		time.Sleep(3*24*time.Hour + time.Minute)
		synctest.Wait()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		recs := e.of(collectors.KindPasswordAge, "")
		if len(recs) != 4 {
			t.Fatalf("%d password_age records in 3 days, want 4 (start + 3)", len(recs))
		}
		start := epochDay(time.Now()) - 3 - 10000
		for i, r := range recs {
			if got, want := attr(r, "oldest_days"), strconv.FormatInt(start+int64(i), 10); got != want {
				t.Errorf("record %d: oldest_days %s, want %s", i, got, want)
			}
		}
	})
}

// TestProblemsReportedAndSurvived is test 5: each missing or unreadable
// source yields exactly one agent_status record with the reason; the
// collector keeps running and still records a change; repairing the source
// yields one more agent_status record, and what it could not see before
// is then seen.
func TestProblemsReportedAndSurvived(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		source string                         // of the status record
		paths  []string                       // Config.Paths besides /etc/hosts
		break_ func(h *host)                  // before start
		reason string                         // the status record's error attribute contains it
		repair func(h *host)                  // nil: not repairable in this test
		then   func(*testing.T, *fakeEmitter) // after the repair
	}{
		{name: "shadow is a directory", source: "watch:/etc/shadow",
			break_: func(h *host) { os.Mkdir(h.path("etc/shadow"), 0o755) },
			reason: "not a regular file: directory",
			repair: func(h *host) {
				os.Remove(h.path("etc/shadow"))
				h.write("etc/shadow", shadowLine("alice", fakeHash("a"), 19000)+"\n")
			},
			then: func(t *testing.T, e *fakeEmitter) {
				// The age record due at start comes once shadow is readable.
				e.waitN(t, 2*time.Second, collectors.KindPasswordAge, "", 1)
			}},
		{name: "shadow is a dangling symlink", source: "watch:/etc/shadow",
			break_: func(h *host) { os.Symlink("/nonexistent/shadow", h.path("etc/shadow")) },
			reason: "dangling symbolic link to /nonexistent/shadow"},
		{name: "shadow missing", source: "watch:/etc/shadow",
			break_: func(h *host) {}, reason: "missing"},
		{name: "passwd missing", source: "watch:/etc/passwd",
			break_: func(h *host) { os.Remove(h.path("etc/passwd")) }, reason: "missing",
			repair: func(h *host) { h.write("etc/passwd", passwdFor()) }},
		{name: "watched file missing", source: "watch:/etc/nftables.conf", paths: []string{"/etc/nftables.conf"},
			break_: func(h *host) {}, reason: "missing",
			repair: func(h *host) { h.write("etc/nftables.conf", "table inet filter {}\n") },
			then: func(t *testing.T, e *fakeEmitter) {
				r := e.waitN(t, 2*time.Second, collectors.KindConfigChange, "watch:/etc/nftables.conf", 1)[0]
				if attr(r, "change") != "created" {
					t.Errorf("change %q, want created", attr(r, "change"))
				}
			}},
		{name: "watched file is a named pipe", source: "watch:/etc/crontab", paths: []string{"/etc/crontab"},
			break_: func(h *host) {
				if err := syscall.Mkfifo(h.path("etc/crontab"), 0o644); err != nil {
					h.t.Fatal(err)
				}
			}, reason: "not a regular file: named pipe"},
		{name: "glob matches nothing", source: "watch:/etc/config/*", paths: []string{"/etc/config/*"},
			break_: func(h *host) { os.Mkdir(h.path("etc/config"), 0o755) }, reason: "no file matches",
			repair: func(h *host) { h.write("etc/config/network", "config interface 'lan'\n") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHost(t)
			h.write("etc/hosts", hostsV1)
			h.write("etc/passwd", passwdFor())
			tc.break_(h)
			e, _ := run(t, newCollector(t, Config{Root: h.root, Paths: append([]string{"/etc/hosts"}, tc.paths...), RescanEvery: 50 * time.Millisecond}))
			st := e.waitN(t, 2*time.Second, collectors.KindAgentStatus, tc.source, 1)
			if got := attr(st[0], "error"); !strings.Contains(got, tc.reason) {
				t.Errorf("error %q, want it to contain %q", got, tc.reason)
			}
			if !strings.Contains(string(st[0].Body), tc.reason) {
				t.Errorf("body %q does not give the reason %q", st[0].Body, tc.reason)
			}
			// Still running: an edit elsewhere is recorded. Rescans every
			// 50 ms must not repeat the status.
			h.write("etc/hosts", hostsV2)
			e.waitN(t, 2*time.Second, collectors.KindConfigChange, "watch:/etc/hosts", 1)
			time.Sleep(quiet)
			if st = e.of(collectors.KindAgentStatus, tc.source); len(st) != 1 {
				t.Fatalf("%d status records for one problem, want 1:\n%s", len(st), dump(st))
			}
			if tc.repair == nil {
				return
			}
			tc.repair(h)
			st = e.waitN(t, 2*time.Second, collectors.KindAgentStatus, tc.source, 2)
			if attr(st[1], "error") != "<absent>" || attr(st[1], "status") == "<absent>" {
				t.Errorf("repair: status record %v, want a status and no error", st[1].Attrs)
			}
			if tc.then != nil {
				tc.then(t, e)
			}
		})
	}
}

// TestFileUnreadableMidRun: a watched file replaced by a directory is
// reported; when a file is back it is compared with the last version read.
func TestFileUnreadableMidRun(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	h.write("etc/hosts", hostsV1)
	h.write("etc/passwd", passwdFor())
	h.write("etc/shadow", shadowLine("alice", fakeHash("a"), 19000)+"\n")
	e, _ := baseline(t, newCollector(t, Config{Root: h.root, Paths: []string{"/etc/hosts"}, RescanEvery: time.Hour}))
	os.Remove(h.path("etc/hosts"))
	os.Mkdir(h.path("etc/hosts"), 0o755)
	e.waitN(t, 2*time.Second, collectors.KindAgentStatus, "watch:/etc/hosts", 1)
	os.Remove(h.path("etc/hosts"))
	h.write("etc/hosts", hostsV2)
	e.waitN(t, 2*time.Second, collectors.KindConfigChange, "", 1)
	time.Sleep(quiet)
	recs := e.of(collectors.KindConfigChange, "")
	// The directory is not a file: its appearance is a status, and the
	// deletion of the file it replaced is a change.
	var changes []string
	for _, r := range recs {
		changes = append(changes, attr(r, "change")+" "+attr(r, "old_sha256")+" "+attr(r, "new_sha256"))
	}
	want := []string{"deleted " + sha(hostsV1) + " ", "created  " + sha(hostsV2)}
	if strings.Join(changes, "|") != strings.Join(want, "|") && strings.Join(changes, "|") != "modified "+sha(hostsV1)+" "+sha(hostsV2) {
		t.Errorf("changes %q, want %q or one modification", changes, want)
	}
}

// TestNewRejects: configurations that would leak hashes or cannot work fail
// in New, not later.
func TestNewRejects(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"shadow as a config file", Config{Root: root, Paths: []string{"/etc/shadow"}}},
		{"gshadow as a config file", Config{Root: root, Paths: []string{"/etc/gshadow"}}},
		{"shadow moved and watched", Config{Root: root, Shadow: "/srv/shadow", Paths: []string{"/srv/shadow"}}},
		{"relative path", Config{Root: root, Paths: []string{"etc/hosts"}}},
		{"bad glob", Config{Root: root, Paths: []string{"/etc/[a"}}},
		{"bad diff glob", Config{Root: root, DiffPaths: []string{"/etc/[a"}}},
		{"relative shadow", Config{Root: root, Shadow: "shadow"}},
		{"negative diff cap", Config{Root: root, MaxDiffBytes: -1}},
		{"negative rescan", Config{Root: root, RescanEvery: -time.Second}},
		{"missing root", Config{Root: filepath.Join(root, "nope")}},
	} {
		if _, err := New(tc.cfg); err == nil {
			t.Errorf("%s: New accepted %+v", tc.name, tc.cfg)
		}
	}
	c, err := New(Config{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	if c.Name() != "watch" || len(c.paths) != len(DefaultPaths()) || c.shadow != "/etc/shadow" || c.passwd != "/etc/passwd" ||
		c.maxDiff != 16<<10 || c.rescanEvery != 30*time.Second || c.ageEvery != 24*time.Hour {
		t.Errorf("defaults: %+v", c)
	}
	c, err = New(Config{Root: root, Shadow: "-", Passwd: "-"})
	if err != nil || c.shadow != "" || c.passwd != "" {
		t.Errorf(`"-" does not disable shadow and passwd: %v %+v`, err, c)
	}
}

// TestSnapshot: what `offbox inspect` prints, with reasons for what cannot
// be read, and no hash anywhere in it.
func TestSnapshot(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	hash := fakeHash("alice")
	h.write("etc/hosts", hostsV1)
	os.Chmod(h.path("etc/hosts"), 0o600)
	h.write("etc/passwd", passwdFor("root:x:0:0:root:/root:/bin/sh"))
	h.write("etc/shadow", shadowLine("alice", hash, day("2025-01-01"))+"\n"+shadowLine("daemon", "*", 1)+"\n")
	os.Mkdir(h.path("etc/crontab"), 0o755)
	now := time.Date(2025, 1, 11, 0, 0, 0, 0, time.UTC)
	st, err := Snapshot(Config{Root: h.root, Paths: []string{"/etc/hosts", "/etc/crontab", "/etc/nftables.conf", "/etc/frr/*.conf"}, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	j, _ := json.Marshal(st)
	leakCheck(t, nil, string(j), hash)
	wantFiles := []FileState{
		{Path: "/etc/crontab", Error: "not a regular file: directory"},
		{Path: "/etc/hosts", SHA256: sha(hostsV1), Size: int64(len(hostsV1)), Mode: "0600", UID: uint32(os.Getuid()), GID: uint32(os.Getgid()), Owner: "tester"},
		{Path: "/etc/nftables.conf", Error: "missing"},
	}
	if len(st.Files) != len(wantFiles) {
		t.Fatalf("files %+v, want %+v", st.Files, wantFiles)
	}
	for i, w := range wantFiles {
		g := st.Files[i]
		g.MTime = ""
		if g != w {
			t.Errorf("file %d: %+v, want %+v", i, g, w)
		}
	}
	if st.Files[1].MTime == "" {
		t.Error("no mtime")
	}
	wantProblems := "watch:/etc/frr/*.conf: no file matches: directory /etc/frr is missing|watch:/etc/crontab: not a regular file: directory|watch:/etc/nftables.conf: missing"
	var ps []string
	for _, p := range st.Problems {
		ps = append(ps, p.Source+": "+p.Reason)
	}
	if got := strings.Join(ps, "|"); got != wantProblems {
		t.Errorf("problems %q, want %q", got, wantProblems)
	}
	if len(st.Users) != 2 || st.Users[0].User != "alice" || *st.Users[0].AgeDays != 10 || !st.Users[1].Locked {
		t.Errorf("users %s", ageString(st.Users))
	}
	if len(st.Accounts) != 3 || st.Accounts[2] != (Account{User: "root", Home: "/root", Shell: "/bin/sh", UID0: true}) {
		t.Errorf("accounts %+v", st.Accounts)
	}
}

// TestDefaultPathsQuiet: with the default paths, those absent on this
// device (a Debian host has no /etc/config/*, no /etc/frr) raise no
// agent_status record and no warning, are named once at debug level, and
// are watched once they appear; a configured path that is missing is still a
// problem (TestProblemsReportedAndSurvived).
func TestDefaultPathsQuiet(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	h.write("etc/hosts", hostsV1)
	h.write("etc/passwd", passwdFor())
	h.write("etc/shadow", shadowLine("alice", fakeHash("a"), 19000)+"\n")
	var logs lockedLog
	c := newCollector(t, Config{Root: h.root, RescanEvery: 50 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	e, _ := baseline(t, c)
	time.Sleep(200 * time.Millisecond) // a few rescans
	for _, r := range e.of(collectors.KindAgentStatus, "") {
		if attr(r, "error") != "" {
			t.Errorf("status record for an absent default path: %s %q", r.Source, r.Body)
		}
	}
	log := logs.String()
	if strings.Contains(log, "level=WARN") {
		t.Errorf("warnings for absent default paths:\n%s", log)
	}
	if n := strings.Count(log, "default paths absent"); n != 1 {
		t.Errorf("%d debug lines naming the absent defaults, want 1:\n%s", n, log)
	}
	for _, p := range []string{"/etc/sudoers", "/etc/config/*", "/etc/nftables.conf"} {
		if !strings.Contains(log, p) {
			t.Errorf("debug line does not name %s:\n%s", p, log)
		}
	}
	// Appearing later: watched like any other, a file and a glob's match.
	h.write("etc/nftables.conf", "table inet filter {}\n")
	h.write("etc/config/network", "config interface 'lan'\n")
	for _, src := range []string{"watch:/etc/nftables.conf", "watch:/etc/config/network"} {
		r := e.waitN(t, 3*time.Second, collectors.KindConfigChange, src, 1)[0]
		if attr(r, "change") != "created" {
			t.Errorf("%s: change %q, want created", src, attr(r, "change"))
		}
	}
}

// lockedLog is a log destination tests read while the collector writes.
type lockedLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
