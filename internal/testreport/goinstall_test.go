package main

import (
	"strings"
	"testing"
)

// TestSkipGroupedByGoInstall: a peer installed with go install (mailpit)
// is grouped under its command, like a Debian package.
func TestSkipGroupedByGoInstall(t *testing.T) {
	t.Parallel()
	out, _ := feed(t, `
{"Action":"start","Package":"m/n"}
{"Action":"run","Package":"m/n","Test":"TestMail"}
{"Action":"output","Package":"m/n","Test":"TestMail","Output":"    mail_test.go:12: needs mailpit (go install github.com/axllent/mailpit@v1.33.1)\n"}
{"Action":"output","Package":"m/n","Test":"TestMail","Output":"--- SKIP: TestMail (0.00s)\n"}
{"Action":"skip","Package":"m/n","Test":"TestMail","Elapsed":0}
{"Action":"output","Package":"m/n","Output":"ok  \tm/n\t0.1s\n"}
{"Action":"pass","Package":"m/n","Elapsed":0.1}
`)
	if want := "  go install github.com/axllent/mailpit@v1.33.1: 1\n    m/n TestMail: needs mailpit"; !strings.Contains(out, want) {
		t.Errorf("report lacks %q:\n%s", want, out)
	}
}
