package detect

import (
	"fmt"
	"testing"
	"time"
)

// TestDeviceWindowDistinctSources: the device-wide failure window's count
// of sources, and every window's total of failures, kept as entries come,
// expire, overflow the window's limit and are pruned, always equal a count
// over the window's entries, and the count of sources is what the device
// brute_force alert reports.
func TestDeviceWindowDistinctSources(t *testing.T) {
	t.Parallel()
	e := New(Config{})
	at := t0
	check := func(step int) {
		t.Helper()
		d := e.devices[dev]
		if got, want := d.all.distinct(), distinctKeys(d.all.entries); got != want {
			t.Fatalf("step %d: %d sources counted, %d in the window", step, got, want)
		}
		windows := map[string]*failWindow{"device": &d.all}
		for k, w := range d.fails {
			windows[k] = w
		}
		for k, w := range windows {
			want := 0
			for _, f := range w.entries {
				want += f.n
			}
			if got := w.total(); got != want {
				t.Fatalf("step %d: window %s totals %d failures, its entries %d", step, k, got, want)
			}
		}
	}
	lastSources := ""
	for i := range 400 {
		// Gaps that sometimes expire part of the 5-minute window, sources
		// that repeat, and local failures (key "user=...").
		at = at.Add(time.Duration(1+(i*7)%40) * time.Second)
		if i%97 == 96 {
			at = at.Add(4 * time.Minute)
		}
		body := fmt.Sprintf("Mar  2 10:00:00 h sshd[1]: Failed password for u%d from 198.51.100.%d port 22 ssh2", i%5, i%23)
		if i%13 == 5 { // one entry standing for several failures
			body = fmt.Sprintf("Mar  2 10:00:00 h sshd[1]: message repeated %d times: [ Failed password for u%d from 198.51.100.%d port 22 ssh2]", 2+i%4, i%5, i%23)
		}
		if i%11 == 0 {
			body = fmt.Sprintf("Mar  2 10:00:00 h su[1]: pam_unix(su:auth): authentication failure; logname=u%d uid=1000 euid=0 tty=pts/0 ruser=u%d rhost=  user=root", i%3, i%3)
		}
		for _, a := range e.Observe(Input{Device: dev, Kind: "log", Body: []byte(body), DeviceTime: at, ReceivedTime: at}) {
			if a.Kind == AlertBruteForce && a.Key == "device" {
				lastSources = a.Fields["sources"]
			}
		}
		check(i)
	}
	if lastSources == "" {
		t.Fatal("no device-wide brute_force raised")
	}
	e.Tick(at.Add(time.Hour)) // prunes the stale window
	check(-1)
	if d := e.devices[dev]; d.all.distinct() != 0 {
		t.Fatalf("%d sources after the window was pruned", d.all.distinct())
	}
}
