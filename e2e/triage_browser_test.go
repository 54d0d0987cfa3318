package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestTriageBrowserIntegration: headless chromium logs in to the
// dashboard, opens an alert raised by a real agent's brute-force burst,
// acknowledges it with a note holding markup, reloads, and sees the state
// and the note (as text, escaped) with who made it; the CLI agrees.
// Then a page on another origin auto-submits a form that would resolve the
// alert: the browser sends the login cookie (same site: only the port
// differs) but the collector refuses it (403), as it refuses a same-origin
// script's POST without the session's token; the alert stays
// acknowledged.
func TestTriageBrowserIntegration(t *testing.T) {
	skipShort(t)
	ctx := browser(t)
	out := outputDir(t)
	dir := t.TempDir()
	p := newPKI(t, "sw-tri-1")
	cfg := collectorConfig(t, dir, "api:\n  listen: 127.0.0.1:0\n")
	in := startIngest(t, p, filepath.Join(dir, "store.db"), "127.0.0.1:0", "-config", cfg)
	var apiAddr string
	waitFor(t, 10*time.Second, "the api listening line", func() bool {
		if m := apiListeningRE.FindStringSubmatch(in.out.String()); m != nil {
			apiAddr = m[1]
		}
		return apiAddr != ""
	})
	base := "http://" + apiAddr
	authLog := filepath.Join(dir, "auth.log")
	stamp := time.Now().Format(time.Stamp)
	var lines []string
	for i := range 8 {
		lines = append(lines, fmt.Sprintf("%s sw-tri-1 sshd[%d]: Failed password for admin from 198.51.100.23 port %d ssh2", stamp, 4100+i, 50000+i))
	}
	os.WriteFile(authLog, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	startAgent(t, p, "sw-tri-1", in.addr, "-tail", authLog, "-start-at", "beginning")
	waitFor(t, 30*time.Second, "the brute_force alert", func() bool {
		return len(storedAlerts(t, in.db, "-kind", "brute_force")) == 1
	})
	token := operatorToken(t, in.db, "erin")

	pg := page{t: t, ctx: ctx, out: out}
	do := pg.do
	eval := pg.eval
	shot := pg.shot
	state := func() string {
		t.Helper()
		o, e, c := run(t, bin.ingest, "alerts", "-db", in.db, "-kind", "brute_force")
		if c != 0 {
			t.Fatalf("alerts: %s", e)
		}
		return o
	}

	do("open the login page", chromedp.Navigate(base+"/login"), chromedp.WaitVisible(chromedp.CSS("#token")))
	do("log in", chromedp.SendKeys(chromedp.CSS("#token"), token), chromedp.Submit(chromedp.CSS("#token")),
		chromedp.WaitVisible(chromedp.CSS("#fleet")))
	do("open the alerts", chromedp.Navigate(base+"/alerts?kind=brute_force"), chromedp.WaitVisible(chromedp.CSS("#alerts")))
	if s := eval(`document.querySelector("#alerts td.select").dataset.state`); s != "open" {
		t.Fatalf("the list shows the alert %q, want open", s)
	}
	do("open the alert", chromedp.Click(chromedp.CSS("#alerts a.alert-link")), until(`location.pathname.startsWith("/alerts/")`),
		chromedp.WaitVisible(chromedp.CSS("#triage")))
	alertPath := eval(`location.pathname`)
	const note = "<b>known</b> scanner & co"
	do("write the note and acknowledge", chromedp.SendKeys(chromedp.CSS("#comment"), note), chromedp.Click(chromedp.CSS("#do-ack")),
		until(`document.readyState === "complete" && document.getElementById("alert-state") && document.getElementById("alert-state").textContent === "acknowledged"`))
	do("reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#history")))
	if s := eval(`document.getElementById("alert-state").textContent`); s != "acknowledged" {
		t.Errorf("after reload the alert is %q, want acknowledged", s)
	}
	row := eval(`[...document.querySelectorAll("#history tbody tr[data-action=ack]")].map(tr => tr.querySelector(".who").textContent + "|" + tr.querySelector(".comment").textContent).join("\n")`)
	if row != "token:erin|"+note {
		t.Errorf("history row = %q, want erin's ack with the note as text", row)
	}
	if n := eval(`String(document.querySelectorAll("#history b").length)`); n != "0" {
		t.Errorf("the note's markup became %s elements", n)
	}
	shot("01-acknowledged")
	if s := state(); !strings.Contains(s, "state=acknowledged") {
		t.Errorf("the CLI does not see the ack: %s", s)
	}

	// A same-origin script without the session's token is refused.
	id := strings.TrimPrefix(alertPath, "/alerts/")
	status, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`fetch("/alerts/triage", {method: "POST", body: new URLSearchParams({id: %q, action: "resolve"})}).then(r => String(r.status))`, id), chromedp.EvalAwaitPromise))
	if err != nil || status != "403" {
		t.Errorf("POST without the token: status %s %v, want 403", status, err)
	}
	// Another origin's page posts a form to the dashboard.
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<!doctype html><form id="f" method="post" action="%s/alerts/triage">
<input name="id" value="%s"><input name="action" value="resolve"><input name="csrf" value="guess"></form>
<script>document.getElementById("f").submit()</script>`, base, id)
	}))
	defer evil.Close()
	resp, err := func() (int64, error) {
		c, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if err := chromedp.Do(c, chromedp.Navigate(evil.URL)); err != nil {
			return 0, err
		}
		var st int64
		err := chromedp.Do(c, until(`location.href.includes("/alerts/triage") && document.readyState === "complete"`))
		if err == nil {
			st = 403
			if !strings.Contains(eval(`document.body.innerText`), "cross-site request refused") {
				st = 0
			}
		}
		return st, err
	}()
	if err != nil || resp != 403 {
		t.Errorf("cross-site form: %v; the page does not say cross-site request refused:\n%s", err, eval(`document.body.innerText`))
	}
	shot("02-cross-site-refused")
	if s := state(); !strings.Contains(s, "state=acknowledged") {
		t.Errorf("after the refused posts the alert is not acknowledged: %s", s)
	}
}
