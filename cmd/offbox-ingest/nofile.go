// The open-files limit against what the listeners may hold open.

package main

import (
	"log/slog"
	"syscall"

	"github.com/offbox/offbox/ingest/config"
)

// filesBesides is the files and sockets the collector holds besides its
// listeners' connections: the store and its WAL, PostgreSQL's pool, alert
// and forward destinations, certificate reloads.
const filesBesides = 256

// filesWanted is the open files the listeners may need at once: each
// one's connection cap, and filesBesides.
func filesWanted(cfg config.Config) uint64 {
	n := cfg.IngestMaxConnections() + filesBesides
	if cfg.API.Listen != "" {
		n += cfg.APIMaxConnections()
	}
	if cfg.Metrics.Listen != "" {
		n += cfg.MetricsMaxConnections()
	}
	return uint64(n)
}

// warnOpenFiles logs once, at start, when the open-files limit is below
// what the connection caps allow. Go has already raised the soft limit
// to the hard one (since Go 1.19), so the hard limit is what counts: a
// systemd unit's LimitNOFILE, or the shell's ulimit -Hn. Past it an
// accept fails with EMFILE: gRPC and net/http wait and retry, and the
// connections wait in the kernel's queue, unanswered, instead of being
// refused and counted.
func warnOpenFiles(cfg config.Config, log *slog.Logger) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return
	}
	if want := filesWanted(cfg); l.Cur < want {
		log.Warn("open-files limit below what the connection caps allow: raise LimitNOFILE (or ulimit -n) or lower max_connections",
			"limit", l.Cur, "wanted", want, "max_connections", cfg.IngestMaxConnections())
	}
}
