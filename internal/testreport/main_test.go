package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func feed(t *testing.T, lines string) (string, *report) {
	t.Helper()
	var b strings.Builder
	r := newReport(&b)
	for _, l := range strings.Split(strings.TrimSpace(lines), "\n") {
		var e event
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("fixture line %q: %v", l, err)
		}
		r.add(e)
	}
	r.summary()
	return b.String(), r
}

func TestReport(t *testing.T) {
	out, r := feed(t, `
{"Action":"start","Package":"m/a"}
{"Action":"run","Package":"m/a","Test":"TestOK"}
{"Action":"output","Package":"m/a","Test":"TestOK","Output":"=== RUN   TestOK\n"}
{"Action":"output","Package":"m/a","Test":"TestOK","Output":"--- PASS: TestOK (0.00s)\n"}
{"Action":"pass","Package":"m/a","Test":"TestOK","Elapsed":0}
{"Action":"run","Package":"m/a","Test":"TestChrony"}
{"Action":"output","Package":"m/a","Test":"TestChrony","Output":"=== RUN   TestChrony\n"}
{"Action":"output","Package":"m/a","Test":"TestChrony","Output":"    integration_test.go:157: needs /usr/sbin/chronyd (apt-get install chrony): not found\n"}
{"Action":"output","Package":"m/a","Test":"TestChrony","Output":"--- SKIP: TestChrony (0.00s)\n"}
{"Action":"skip","Package":"m/a","Test":"TestChrony","Elapsed":0}
{"Action":"output","Package":"m/a","Output":"ok  \tm/a\t0.1s\n"}
{"Action":"pass","Package":"m/a","Elapsed":0.1}
{"Action":"start","Package":"m/b"}
{"Action":"run","Package":"m/b","Test":"TestBad"}
{"Action":"output","Package":"m/b","Test":"TestBad","Output":"=== RUN   TestBad\n"}
{"Action":"output","Package":"m/b","Test":"TestBad","Output":"    b_test.go:9: got 1, want 2\n"}
{"Action":"output","Package":"m/b","Test":"TestBad","Output":"--- FAIL: TestBad (0.00s)\n"}
{"Action":"fail","Package":"m/b","Test":"TestBad","Elapsed":0}
{"Action":"output","Package":"m/b","Output":"FAIL\n"}
{"Action":"output","Package":"m/b","Output":"FAIL\tm/b\t0.2s\n"}
{"Action":"fail","Package":"m/b","Elapsed":0.2}
{"Action":"start","Package":"m/c"}
{"Action":"run","Package":"m/c","Test":"TestHang"}
{"Action":"start","Package":"m/d"}
{"Action":"run","Package":"m/d","Test":"TestSlow"}
{"Action":"output","Package":"m/d","Test":"TestSlow","Output":"=== RUN   TestSlow\n"}
{"Action":"output","Package":"m/d","Test":"TestSlow","Output":"    slow_test.go:3: waiting for the collector\n"}
{"Action":"output","Package":"m/d","Test":"TestSlow","Output":"panic: test timed out after 20m0s\n"}
{"Action":"output","Package":"m/d","Output":"FAIL\tm/d\t1200.1s\n"}
{"Action":"fail","Package":"m/d","Elapsed":1200.1}
`)
	for _, want := range []string{
		"ok  \tm/a\t0.100s\n",
		"b_test.go:9: got 1, want 2\n--- FAIL: TestBad",
		"FAIL\tm/b\t0.200s\n",
		"apt-get install chrony: 1\n    m/a TestChrony: needs /usr/sbin/chronyd (apt-get install chrony): not found\n",
		"FAIL\tm/c\t(no result",
		"--- unfinished: TestSlow\n    slow_test.go:3: waiting for the collector\npanic: test timed out after 20m0s\nFAIL\tm/d\t1200.100s\n",
		"\n1 passed, 1 failed, 1 skipped\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "FAIL\tm/b"); n != 1 {
		t.Errorf("%d lines say m/b failed, want 1:\n%s", n, out)
	}
	if strings.Contains(out, "=== RUN") || strings.Contains(out, "--- PASS") {
		t.Errorf("report carries test2json framing:\n%s", out)
	}
	if got, want := len(r.failPkgs), 3; got != want {
		t.Errorf("failed packages = %v, want %d", r.failPkgs, want)
	}
}
