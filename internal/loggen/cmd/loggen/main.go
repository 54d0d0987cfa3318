// Command loggen writes realistic security log lines (internal/loggen) to a
// file or standard output, for trying offbox by hand and for manual load
// runs: `go run ./internal/loggen/cmd/loggen -n 1000000 -o auth.log`.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/offbox/offbox/internal/loggen"
)

func main() {
	n := flag.Int("n", 1_000_000, "number of lines")
	seed := flag.Uint64("seed", 1, "seed; the same seed gives the same lines")
	devices := flag.Int("devices", 4, "hosts named in the lines")
	mix := flag.String("mix", "bastion", "proportions: bastion (an SSH bastion) or edge (edge routers and firewalls)")
	span := flag.Duration("span", time.Hour, "time the lines cover")
	start := flag.String("start", "2026-11-22T00:00:00Z", "first line's time (RFC 3339)")
	out := flag.String("o", "-", "output file; - is standard output")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: loggen [flags]\n\nWrites -n realistic syslog lines (sshd, PAM, sudo, cron, kernel, systemd,\nCisco IOS, Junos, FortiOS), the same lines for the same flags.\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if err := run(*n, *seed, *devices, *mix, *span, *start, *out); err != nil {
		fmt.Fprintln(os.Stderr, "loggen:", err)
		os.Exit(1)
	}
}

func run(n int, seed uint64, devices int, mixName string, span time.Duration, start, out string) error {
	var mix loggen.Mix
	switch mixName {
	case "bastion":
		mix = loggen.Bastion
	case "edge":
		mix = loggen.EdgeRouter
	default:
		return fmt.Errorf("-mix %q: want bastion or edge", mixName)
	}
	if n < 0 || devices < 1 || span <= 0 {
		return fmt.Errorf("-n, -devices and -span must be positive (have %d, %d, %v)", n, devices, span)
	}
	t0, err := time.Parse(time.RFC3339, start)
	if err != nil {
		return fmt.Errorf("-start: %w", err)
	}
	var w io.Writer = os.Stdout
	if out != "-" {
		f, err := os.Create(out)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	g := loggen.New(loggen.Config{Seed: seed, Devices: devices, Start: t0, Span: span, Lines: max(n, 1), Mix: mix})
	if _, err := g.Write(w, n); err != nil {
		return err
	}
	if f, ok := w.(*os.File); ok && out != "-" {
		return f.Close()
	}
	return nil
}
