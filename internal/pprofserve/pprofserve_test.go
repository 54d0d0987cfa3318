package pprofserve

import (
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"127.0.0.1:6060", "[::1]:6060", "localhost:0", "127.0.0.2:1"} {
		if err := Check(ok); err != nil {
			t.Errorf("Check(%q) = %v, want nil", ok, err)
		}
	}
	for addr, want := range map[string]string{
		":6060":          "every interface",
		"0.0.0.0:6060":   "every interface",
		"[::]:6060":      "every interface",
		"10.0.0.1:6060":  "not a loopback",
		"example.com:80": "not a loopback",
		"127.0.0.1":      "HOST:PORT",
		"127.0.0.1:":     "no port",
	} {
		err := Check(addr)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "-pprof") {
			t.Errorf("Check(%q) = %v, want an error naming -pprof and saying %q", addr, err, want)
		}
	}
	if _, _, err := Start("0.0.0.0:0", slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("Start listened on every interface")
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestServes fetches the index, a text heap profile and refusals with
// net/http's client, and a CPU profile with the real `go tool pprof`.
func TestServes(t *testing.T) {
	addr, stop, err := Start("127.0.0.1:0", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	base := "http://" + addr.String()
	for path, want := range map[string]string{"/debug/pprof/": "goroutine", "/debug/pprof/heap?debug=1": "heap profile"} {
		if code, body := get(t, base+path); code != 200 || !strings.Contains(body, want) {
			t.Errorf("GET %s: %d, %.200q; want 200 with %q", path, code, body, want)
		}
	}
	for _, path := range []string{"/debug/pprof/nosuch", "/etc/passwd", "/debug/pprof/profile?seconds=9999"} {
		if code, _ := get(t, base+path); code != 400 {
			t.Errorf("GET %s: %d, want 400", path, code)
		}
	}
	// The go command that runs this test reads the profile: it is always
	// there, so its absence is a failure, not a skip.
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("no go command to read the profile with: %v", err)
	}
	out := filepath.Join(t.TempDir(), "top.txt")
	cmd := exec.Command(goBin, "tool", "pprof", "-top", "-output", out, base+"/debug/pprof/profile?seconds=1")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go tool pprof: %v\n%s", err, b)
	}
	if b, _ := os.ReadFile(out); !strings.Contains(string(b), "flat") {
		t.Errorf("go tool pprof -top wrote %q", b)
	}
}

func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{"GET /debug/pprof/profile?seconds=5 HTTP/1.1\r\n", "GET /debug/pprof/heap?debug=1 HTTP/1.0",
		"GET /debug/pprof/ HTTP/1.1", "POST / HTTP/1.1", "GET /debug/pprof/../x HTTP/1.1", "GET /debug/pprof/heap?seconds=&debug=-1 HTTP/1.1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		r, err := ParseRequest(line)
		if err != nil {
			return
		}
		if r.Seconds < 1 || r.Seconds > 300 || r.Debug < 0 || r.Debug > 2 || strings.Contains(r.Name, "/") {
			t.Fatalf("ParseRequest(%q) = %+v", line, r)
		}
	})
}
