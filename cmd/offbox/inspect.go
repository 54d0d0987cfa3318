package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/offbox/offbox/collectors/boot"
	"github.com/offbox/offbox/collectors/clock"
	"github.com/offbox/offbox/collectors/watch"
)

// inspectReport is what `offbox inspect` prints: each section is what its
// collector reads now, or a sectionError.
type inspectReport struct {
	Boot  any `json:"boot"`  // boot.Info
	Clock any `json:"clock"` // clock.Summary of one round
	Watch any `json:"watch"` // watch.State
}

// sectionError stands for a section whose collector could not be set up.
type sectionError struct {
	Error string `json:"error"`
}

// inspectClockSlack is how long, past one NTP query timeout, inspect waits
// for its clock round (DNS and the samples): a person is waiting.
const inspectClockSlack = 3 * time.Second

// inspect prints what the boot, clock and watch collectors see now, as one
// JSON document, whether or not the config enables them: it is what an
// operator runs first on a new kind of device. A source that cannot be read
// is a reason in its section, never a failure; only a usage or config error
// exits non-zero.
func inspect(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f := newInspectFlags()
	if code, ok := parseFlags(f.fs, "inspect", args, stderr); !ok {
		return code
	}
	c, err := f.effective()
	if err != nil {
		fmt.Fprintf(stderr, "offbox: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(stderr, nil))

	var rep inspectReport
	if info, err := boot.Read(c.bootConfig()); err != nil {
		rep.Boot = sectionError{err.Error()}
	} else {
		rep.Boot = info
	}
	if k, err := clock.New(c.clockConfig(log)); err != nil {
		rep.Clock = sectionError{err.Error()}
	} else {
		timeout := c.Clock.Timeout
		if timeout == 0 {
			timeout = clock.DefaultTimeout
		}
		mctx, cancel := context.WithTimeout(ctx, timeout+inspectClockSlack)
		rep.Clock = k.Measure(mctx)
		cancel()
	}
	if st, err := watch.Snapshot(c.watchConfig(log)); err != nil {
		rep.Watch = sectionError{err.Error()}
	} else {
		rep.Watch = st
	}

	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		fmt.Fprintf(stderr, "offbox: %v\n", err)
		return 1
	}
	return 0
}
