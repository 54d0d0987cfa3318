//go:build nopprof

package main

import (
	"errors"
	"log/slog"
)

// startPprof: the device builds (make cross, the packages) leave the
// profiler out: runtime/pprof and its compressor cost 192 KiB on armv7,
// over the agent's 10 MiB budget.
func startPprof(string, *slog.Logger) (func(), error) {
	return nil, errors.New("-pprof: this build has no profiler (device builds are made with -tags nopprof to fit the 10 MiB budget); profile a `make build` binary")
}
