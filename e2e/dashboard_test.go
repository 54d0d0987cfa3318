package e2e

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/offbox/offbox/internal/testpeer"
)

// chromiumPath is where Debian's chromium package puts the browser.
const chromiumPath = "/usr/bin/chromium"

// outputDir is where a test leaves files for people to look at:
// $OFFBOX_TEST_OUTPUT/NAME when set (kept after the run), else a
// temporary directory.
func outputDir(t *testing.T) string {
	t.Helper()
	base := os.Getenv("OFFBOX_TEST_OUTPUT")
	if base == "" {
		return t.TempDir()
	}
	dir := filepath.Join(base, t.Name())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browser starts headless chromium for the test.
func browser(t *testing.T) context.Context {
	t.Helper()
	testpeer.LookPath(t, "chromium", chromiumPath)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromiumPath), chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true), chromedp.WindowSize(1400, 1000))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// Start it on ctx itself: a browser started under a shorter context
	// would end with that context.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

// TestDashboardBrowserIntegration: two real agents, one with a
// brute-force burst in its auth log, feed a collector whose operator
// listener serves the dashboard on loopback. Headless chromium is sent to
// the login page, logs in with an operator token, and checks each view
// against the store (device count and open alerts per device from
// `records`/`alerts`, the number of alerts of a kind), applies a label
// filter and a kind filter, searches the device's log lines, sees the
// page refresh itself, and saves a screenshot of each. Every dashboard
// read, and the unauthenticated one refused, is in the access trail as a
// log_access alert.
func TestDashboardBrowserIntegration(t *testing.T) {
	skipShort(t)
	ctx := browser(t)
	out := outputDir(t)
	dir := t.TempDir()
	p := newPKI(t, "sw-edge-1", "rtr-core-1")
	cfg := collectorConfig(t, dir, `api:
  listen: 127.0.0.1:0
devices:
  - match: "sw-*"
    labels: {role: switch}
  - match: "rtr-*"
    labels: {role: router}
`)
	in := startIngest(t, p, filepath.Join(dir, "store.db"), "127.0.0.1:0", "-config", cfg)
	var apiAddr string
	waitFor(t, 10*time.Second, "the api listening line", func() bool {
		if m := apiListeningRE.FindStringSubmatch(in.out.String()); m != nil {
			apiAddr = m[1]
		}
		return apiAddr != ""
	})
	base := "http://" + apiAddr

	authLog, msgs := filepath.Join(dir, "auth.log"), filepath.Join(dir, "messages")
	stamp := time.Now().Format(time.Stamp)
	var lines []string
	for i := range 8 {
		lines = append(lines, fmt.Sprintf("%s sw-edge-1 sshd[%d]: Failed password for admin from 198.51.100.23 port %d ssh2", stamp, 4100+i, 50000+i))
	}
	os.WriteFile(authLog, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	os.WriteFile(msgs, []byte(stamp+" rtr-core-1 kernel: eth0: link up\n"+stamp+" rtr-core-1 ospfd[9]: neighbour 10.0.0.2 Full\n"), 0o644)
	// Three NTP servers a few milliseconds ahead, polled every second.
	agentCfg := filepath.Join(dir, "agent.yaml")
	os.WriteFile(agentCfg, fmt.Appendf(nil, "clock:\n  servers: [%q, %q, %q]\n  interval: 1s\n  timeout: 500ms\n",
		ntpServer(t, 2*time.Millisecond), ntpServer(t, 3*time.Millisecond), ntpServer(t, 4*time.Millisecond)), 0o644)
	startAgent(t, p, "sw-edge-1", in.addr, "-config", agentCfg, "-tail", authLog, "-start-at", "beginning", "-heartbeat", "1s")
	startAgent(t, p, "rtr-core-1", in.addr, "-tail", msgs, "-start-at", "beginning", "-heartbeat", "1s")
	waitFor(t, 30*time.Second, "the brute_force alert and both devices' heartbeats", func() bool {
		return len(storedAlerts(t, in.db, "-kind", "brute_force")) == 1 && clockOffsets(t, in.db) > 1 &&
			count(t, in.db, "-kind", "heartbeat", "-device", "sw-edge-1") > 0 && count(t, in.db, "-kind", "heartbeat", "-device", "rtr-core-1") > 0
	})
	token := operatorToken(t, in.db, "dana")

	pg := page{t: t, ctx: ctx, out: out}
	shot := pg.shot
	do := pg.do
	eval := pg.eval
	// waitLoaded waits for the page whose location includes loc.
	waitLoaded := func(loc string) chromedp.Action[chromedp.Void] {
		return until(fmt.Sprintf(`location.href.includes(%q) && document.readyState === "complete"`, loc))
	}

	// Unauthenticated: the 401 page explains how to log in, with the form.
	resp, err := func() (int64, error) {
		c, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		r, err := chromedp.RunResponse(c, chromedp.Navigate(base+"/"))
		if err != nil {
			return 0, err
		}
		return r.Status, nil
	}()
	if err != nil || resp != http.StatusUnauthorized {
		t.Fatalf("dashboard without a login: status %d %v, want 401", resp, err)
	}
	if body := eval(`document.body.innerText`); !strings.Contains(body, "operator-token create") || !strings.Contains(body, "authentication required") {
		t.Errorf("the 401 page does not explain how to log in:\n%s", body)
	}
	shot("01-login")
	do("log in", chromedp.SendKeys(chromedp.CSS("#token"), token), chromedp.Submit(chromedp.CSS("#token")),
		chromedp.WaitVisible(chromedp.CSS("#fleet")))
	if who := eval(`document.getElementById("operator").textContent`); who != "token:dana" {
		t.Errorf("logged in as %q, want token:dana", who)
	}

	// Fleet: the devices and their open alerts, as the store has them.
	storeDevices := map[string]bool{}
	for _, r := range records(t, in.db) {
		storeDevices[r.Device] = true
	}
	openInStore := func(device string) int {
		return len(storedAlerts(t, in.db, "-device", device, "-since", "24h"))
	}
	type row struct {
		Status, Open, Labels string
	}
	fleetRows := func() map[string]row {
		var m map[string]row
		js := `JSON.stringify(Object.fromEntries([...document.querySelectorAll("#fleet tbody tr[data-device]")].map(tr => [tr.dataset.device,
			{Status: tr.querySelector(".status").innerText.trim(), Open: tr.querySelector(".open-alerts").innerText.trim(), Labels: tr.querySelector(".labels").innerText.trim()}])))`
		if err := json.Unmarshal([]byte(eval(js)), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	var rows map[string]row
	waitFor(t, 20*time.Second, "the fleet page to agree with the store", func() bool {
		do("reload the fleet", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#fleet")))
		rows = fleetRows()
		if got := eval(`document.getElementById("device-count").textContent`); got != fmt.Sprint(len(storeDevices)) || len(rows) != len(storeDevices) {
			t.Logf("devices on the page %s (%d rows), in the store %d", got, len(rows), len(storeDevices))
			return false
		}
		for d := range storeDevices {
			if rows[d].Open != fmt.Sprint(openInStore(d)) {
				t.Logf("%s: %s open alerts on the page, %d in the store", d, rows[d].Open, openInStore(d))
				return false
			}
		}
		return true
	})
	for d, r := range rows {
		if r.Status != "healthy" {
			t.Errorf("%s: status %q, want healthy (heartbeats every second)", d, r.Status)
		}
	}
	if rows["sw-edge-1"].Labels != "role=switch" || rows["rtr-core-1"].Labels != "role=router" {
		t.Errorf("labels %+v, want role=switch and role=router", rows)
	}
	if n, _ := fmt.Sscan(rows["sw-edge-1"].Open, new(int)); n != 1 || rows["sw-edge-1"].Open == "0" {
		t.Errorf("sw-edge-1 open alerts %q, want the brute force ones", rows["sw-edge-1"].Open)
	}
	shot("02-fleet")

	// Refresh without a reload: the footer's time changes, the page stays.
	eval(`String(window.notReloaded = true)`)
	before := eval(`document.getElementById("updated").textContent`)
	do("wait for a refresh", until(fmt.Sprintf(`document.getElementById("updated").textContent !== %q`, before)))
	if eval(`String(window.notReloaded === true && document.querySelector("#fleet") !== null)`) != "true" {
		t.Errorf("the page reloaded instead of refreshing in place")
	}

	// Filter by label: all switches.
	do("filter role=switch", chromedp.SetValue(chromedp.CSS("#label"), "role=switch"), chromedp.Submit(chromedp.CSS("#label")),
		waitLoaded("label=role%3Dswitch"), chromedp.WaitVisible(chromedp.CSS("#fleet")))
	if rows := fleetRows(); len(rows) != 1 || rows["sw-edge-1"].Status == "" {
		t.Errorf("role=switch: rows %+v, want sw-edge-1 only", rows)
	}
	shot("03-fleet-switches")

	// Alerts: the number of alerts of a kind, as the store has them.
	do("open alerts", chromedp.Navigate(base+"/alerts"), chromedp.WaitVisible(chromedp.CSS("#alerts")))
	do("filter kind brute_force", chromedp.SetValue(chromedp.CSS("#kind"), "brute_force"), chromedp.Submit(chromedp.CSS("#kind")),
		waitLoaded("kind=brute_force"), chromedp.WaitVisible(chromedp.CSS("#alerts")))
	if got, want := eval(`document.getElementById("alert-count").textContent`), len(storedAlerts(t, in.db, "-kind", "brute_force", "-since", "24h")); got != fmt.Sprint(want) || want != 1 {
		t.Errorf("brute_force alerts on the page %s, in the store %d, want 1", got, want)
	}
	bf := storedAlerts(t, in.db, "-kind", "brute_force")[0]
	if got := eval(`document.querySelector('#by-kind tr[data-kind="brute_force"] td:nth-child(3)').textContent`); got != fmt.Sprint(bf.Count) {
		t.Errorf("brute_force occurrences on the page %s, in the store %d", got, bf.Count)
	}
	if got := eval(`document.querySelector("#alerts tbody tr .evidence a").getAttribute("href")`); !strings.HasPrefix(got, "/records/sw-edge-1/") {
		t.Errorf("evidence link %q, want a record of sw-edge-1", got)
	}
	// Evidence is named by the record's source and device time, and the
	// timeline labels the hours of the day.
	if got := eval(`document.querySelector("#alerts tbody tr .evidence a").textContent`); !strings.HasPrefix(got, "file:"+authLog+" 20") {
		t.Errorf("evidence named %q, want the source file:%s and the time", got, authLog)
	}
	if ok := eval(`String(document.querySelectorAll("#timeline rect.bar").length > 0 && document.querySelectorAll("#timeline text.tick").length >= 3)`); ok != "true" {
		t.Errorf("timeline: want bars and at least 3 hour labels:\n%s", eval(`document.getElementById("timeline").innerHTML`))
	}
	shot("04-alerts-brute-force")
	do("open the evidence", chromedp.Click(chromedp.CSS("#alerts tbody tr .evidence a")), waitLoaded("/records/"), chromedp.WaitVisible(chromedp.CSS("#record")))
	if rec := eval(`document.getElementById("record").textContent`); !strings.Contains(rec, "198.51.100.23") {
		t.Errorf("evidence record %s, want the failed login line", rec)
	}
	shot("05-evidence")

	// Device: boots, and the log lines searched.
	do("open the device", chromedp.Navigate(base+"/devices/sw-edge-1"), chromedp.WaitVisible(chromedp.CSS("#logs")))
	if n := eval(`String(document.querySelectorAll("#boots tbody tr code").length)`); n == "0" {
		t.Errorf("no boot on the device page")
	}
	// Open alerts split by severity: the counts add up to the total, and
	// the brute force alert is listed with its evidence named.
	if got, total := eval(`String([...document.querySelectorAll(".facts dd .sev")].reduce((n, e) => n + parseInt(e.textContent), 0))`),
		eval(`document.getElementById("open-alerts").textContent`); got != total || total == "0" {
		t.Errorf("open alerts by severity add up to %s, the total is %s", got, total)
	}
	if got := eval(`document.querySelector('#device-alerts tr[data-kind="brute_force"] .evidence a').textContent`); !strings.HasPrefix(got, "file:"+authLog) {
		t.Errorf("device page: brute_force evidence named %q, want file:%s and the time", got, authLog)
	}
	// The chart: the combined offset and one line per server.
	if n := eval(`String(document.querySelectorAll("#clock-chart polyline.series").length)`); n != "4" {
		t.Errorf("%s lines in the clock chart, want 4 (combined and 3 servers)", n)
	}
	do("search the log", chromedp.SendKeys(chromedp.CSS("#q"), "FAILED PASSWORD"), chromedp.Submit(chromedp.CSS("#q")),
		waitLoaded("q=FAILED"), chromedp.WaitVisible(chromedp.CSS("#logs")))
	if n := eval(`String(document.querySelectorAll("#logs tbody td.line").length)`); n != "8" {
		t.Errorf("%s lines found for FAILED PASSWORD, want the 8 failures", n)
	}
	shot("06-device")
	do("log out", chromedp.Submit(chromedp.CSS(".logout")), waitLoaded("/login"), chromedp.WaitVisible(chromedp.CSS("#token")))

	// Every dashboard read is in the access trail, counted in dana's one
	// log_access alert (grouped per operator, way in and method), which
	// names the latest read.
	want := []string{"GET /", "GET /?label=role%3Dswitch", "GET /alerts", "GET /alerts?device=&label=&kind=brute_force&severity=&range=24h&since=&until=",
		"GET /devices/sw-edge-1", "GET /devices/sw-edge-1?q=FAILED+PASSWORD"}
	var seen map[string]bool
	var reads, danaAlerts int
	var refused bool
	waitFor(t, 20*time.Second, "log_access alerts of the dashboard reads", func() bool {
		so, se, code := run(t, bin.ingest, "alerts", "-db", in.db, "-kind", "log_access", "-json")
		if code != 0 {
			t.Fatalf("alerts: exit %d: %s", code, se)
		}
		seen, refused, reads, danaAlerts = map[string]bool{}, false, 0, 0
		sc := bufio.NewScanner(strings.NewReader(so))
		for sc.Scan() {
			var a struct {
				Fields map[string]string `json:"fields"`
				Count  int               `json:"count"`
			}
			if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
				t.Fatal(err)
			}
			if a.Fields["via"] != "dashboard" {
				continue
			}
			switch a.Fields["who"] {
			case "token:dana":
				seen[a.Fields["what"]] = true
				reads += a.Count
				danaAlerts++
			case "unauthenticated":
				refused = refused || a.Fields["what"] == "refused: GET /"
			}
		}
		latest := false
		for _, w := range want {
			latest = latest || seen[w]
		}
		return refused && latest && reads >= len(want)
	})
	if danaAlerts != 1 {
		t.Errorf("%d log_access alerts of dana's dashboard reads, want 1 counting them all", danaAlerts)
	}
	t.Logf("screenshots in %s", out)
}

// ntpServer answers NTP client requests on loopback UDP as a stratum 2
// server whose clock is ahead of this host's by offset, and returns its
// address.
func ntpServer(t *testing.T, offset time.Duration) string {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go serveNTP(c, offset)
	return c.LocalAddr().String()
}

// serveNTP answers on c until it is closed.
func serveNTP(c net.PacketConn, offset time.Duration) {
	buf := make([]byte, 512)
	for n, from, err := c.ReadFrom(buf); err == nil; n, from, err = c.ReadFrom(buf) {
		if n < 48 || buf[0]&7 != 3 { // not a client request
			continue
		}
		now := time.Now().Add(offset)
		resp := make([]byte, 48)
		resp[0], resp[1], resp[2], resp[3] = 4<<3|4, 2, buf[2], 0xEC // version 4, server; stratum 2; the client's poll; precision 2^-20
		binary.BigEndian.PutUint32(resp[4:], 1<<16/100)              // root delay 10 ms
		binary.BigEndian.PutUint32(resp[8:], 1<<16/100)              // root dispersion 10 ms
		copy(resp[12:16], "TEST")
		putNTPTime(resp[16:], now.Add(-time.Second)) // reference
		copy(resp[24:32], buf[40:48])                // origin: the client's transmit time
		putNTPTime(resp[32:], now)                   // receive
		putNTPTime(resp[40:], now)                   // transmit
		c.WriteTo(resp, from)
	}
}

// putNTPTime writes t as an NTP timestamp (seconds since 1900, 32.32 fixed point).
func putNTPTime(b []byte, t time.Time) {
	const epoch = 2208988800 // seconds from 1900 to 1970
	ns := t.UnixNano()
	binary.BigEndian.PutUint32(b, uint32(ns/1e9+epoch))
	binary.BigEndian.PutUint32(b[4:], uint32((ns%1e9)<<32/1e9))
}

// clockOffsets is the number of sw-edge-1's clock records with an offset.
func clockOffsets(t *testing.T, db string) int {
	n := 0
	for _, r := range records(t, db, "-device", "sw-edge-1", "-kind", "clock") {
		if r.Attrs["offset_ns"] != "" {
			n++
		}
	}
	return n
}
