//go:build !nopprof

package main

import (
	"log/slog"

	"github.com/offbox/offbox/internal/pprofserve"
)

// startPprof serves Go profiles on a loopback address (-pprof).
func startPprof(addr string, log *slog.Logger) (stop func(), err error) {
	_, stop, err = pprofserve.Start(addr, log)
	return stop, err
}
