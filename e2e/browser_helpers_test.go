package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// page is a browser test's handle on chromium (browser) and the folder its
// screenshots go to (outputDir).
type page struct {
	t   *testing.T
	ctx context.Context
	out string
}

// do runs steps, failing the test with what it was doing.
func (p page) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	c, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(c, steps...); err != nil {
		p.t.Fatalf("%s: %v", what, err)
	}
}

// eval is the string value of the expression js in the page.
func (p page) eval(js string) string {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](js))
	if err != nil {
		p.t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// shot saves a screenshot of the page as name.png, once the page is
// loaded and laid out: a page whose element a test waited for may not be
// yet, and chromium refuses to capture a page of 0 width (seen in CI
// right after following a link).
func (p page) shot(name string) {
	p.t.Helper()
	p.do("lay out "+name, until(`document.readyState === "complete" && document.documentElement.getBoundingClientRect().width > 0`))
	png, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(p.out, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		p.t.Fatal(err)
	}
	p.t.Logf("screenshot: %s", path)
}

// until waits for the expression js to be true; it is evaluated again
// until then, since a navigation destroys the page it ran in.
func until(js string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		for {
			if ok, err := chromedp.Evaluate[bool](js)(ctx, tg); err == nil && ok {
				return chromedp.Void{}, nil
			}
			select {
			case <-ctx.Done():
				return chromedp.Void{}, fmt.Errorf("waiting for %s: %w", js, ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

// operatorToken creates an operator token named name in db with the CLI
// and returns it.
func operatorToken(t *testing.T, db, name string) string {
	t.Helper()
	so, se, code := run(t, bin.ingest, "operator-token", "create", "-db", db, "-name", name)
	if code != 0 {
		t.Fatalf("operator-token create: exit %d: %s", code, se)
	}
	return strings.TrimSpace(so)
}
