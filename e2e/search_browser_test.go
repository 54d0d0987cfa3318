package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestSearchBrowserIntegration: in chromium, an operator logs in, searches
// a phrase across two devices, sees every match highlighted (the counts
// agree with search -count), opens a result's context and sees the lines
// around it from the same source, the result marked; the permalink gives
// the same results again; hostile log content is shown as text.
func TestSearchBrowserIntegration(t *testing.T) {
	skipShort(t)
	ctx := browser(t)
	out := outputDir(t)
	dir := t.TempDir()
	p := newPKI(t, "fw-1", "srv-2")
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
	stamp := time.Now().Format(time.Stamp)
	for _, dev := range []string{"fw-1", "srv-2"} {
		var lines []string
		for i := range 30 {
			if i%5 == 2 {
				lines = append(lines, fmt.Sprintf("%s %s sshd[%d]: Failed password for root from 198.51.100.%d port 22 <img src=x onerror=alert(1)>", stamp, dev, 500+i, i))
			} else {
				lines = append(lines, fmt.Sprintf("%s %s cron[%d]: job %d done", stamp, dev, 500+i, i))
			}
		}
		f := filepath.Join(dir, dev+".log")
		os.WriteFile(f, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
		startAgent(t, p, dev, in.addr, "-tail", f, "-start-at", "beginning")
	}
	waitFor(t, 30*time.Second, "every line stored", func() bool { return count(t, in.db, "-kind", "log") >= 60 })
	want := searchCount(t, in.db, `"failed password for root"`)
	if want != 12 {
		t.Fatalf("search -count: %d, want 12", want)
	}
	token := operatorToken(t, in.db, "sam")

	pg := page{t: t, ctx: ctx, out: out}
	do := pg.do
	eval := pg.eval
	shot := pg.shot

	do("open the login page", chromedp.Navigate(base+"/search"), chromedp.WaitVisible(chromedp.CSS("#token")))
	do("log in", chromedp.SendKeys(chromedp.CSS("#token"), token), chromedp.Submit(chromedp.CSS("#token")),
		until(`location.pathname === "/search" && document.readyState === "complete"`), chromedp.WaitVisible(chromedp.CSS("#search-form")))
	do("search", chromedp.SendKeys(chromedp.CSS("#q"), `"Failed password for root"`), chromedp.Submit(chromedp.CSS("#q")),
		until(`location.search.includes("q=") && document.readyState === "complete" && !!document.getElementById("results")`))
	shot("search-01-results")
	rows := eval(`String(document.querySelectorAll("#results tbody tr[data-ref]").length)`)
	marks := eval(`String([...document.querySelectorAll("#results tbody td.line mark")].filter(m => m.textContent === "Failed password for root").length)`)
	devices := eval(`[...new Set([...document.querySelectorAll("#results tbody tr[data-ref]")].map(tr => tr.dataset.ref.split("/")[0]))].sort().join(",")`)
	if rows != "12" || marks != "12" || devices != "fw-1,srv-2" {
		t.Fatalf("results: %s rows, %s highlighted, devices %q; want 12, 12, fw-1,srv-2", rows, marks, devices)
	}
	if n := eval(`String(document.querySelectorAll("img").length)`); n != "0" {
		t.Fatalf("log content became %s img elements", n)
	}
	if !strings.Contains(eval(`document.getElementById("results").innerText`), "<img src=x onerror=alert(1)>") {
		t.Fatal("log content not shown as text")
	}
	ref := eval(`document.querySelector("#results tbody tr[data-ref]").dataset.ref`)
	perm := eval(`document.getElementById("permalink").href`)

	// The context of the first (newest) result: lines of its device and
	// source around it, the result marked.
	do("open the context", chromedp.Click(chromedp.CSS("#results tbody tr[data-ref] a.context")),
		until(`location.pathname.startsWith("/search/context/") && !!document.getElementById("hit")`))
	shot("search-02-context")
	if got := eval(`document.getElementById("hit").dataset.ref`); got != ref {
		t.Fatalf("context marks %s, want %s", got, ref)
	}
	ctxRows := eval(`String(document.querySelectorAll("#context tbody tr").length)`)
	before := eval(`String([...document.querySelectorAll("#context tbody tr")].indexOf(document.getElementById("hit")))`)
	hitText := eval(`document.getElementById("hit").innerText`)
	if before == "0" || ctxRows == "1" || !strings.Contains(hitText, "Failed password for root") {
		t.Fatalf("context: %s rows, the result at %s: %q", ctxRows, before, hitText)
	}
	// Each context line is the device's, from its file.
	dev := strings.Split(ref, "/")[0]
	if n := eval(fmt.Sprintf(`String([...document.querySelectorAll("#context tbody tr")].filter(tr => !tr.dataset.ref.startsWith(%q)).length)`, dev+"/")); n != "0" {
		t.Fatalf("%s context lines of another device", n)
	}
	// The permalink runs the same search again.
	do("open the permalink", chromedp.Navigate(perm), until(`!!document.getElementById("results") && document.readyState === "complete"`))
	if got := eval(`document.querySelector("#results tbody tr[data-ref]").dataset.ref`); got != ref {
		t.Fatalf("permalink's first result %s, want %s", got, ref)
	}
	// A bad query says what and where.
	do("a bad regex", chromedp.Navigate(base+"/search?q="+`re:a(b`), until(`!!document.getElementById("search-error")`))
	if msg := eval(`document.getElementById("search-error").textContent`); !strings.Contains(msg, "position 4") || !strings.Contains(msg, "missing closing )") {
		t.Fatalf("bad regex message: %q", msg)
	}
}
