package main

// systemd readiness and watchdog (Type=notify, WatchdogSec=): READY=1 once
// the agent runs, WATCHDOG=1 every half WATCHDOG_USEC while the agent's
// queue still answers, STOPPING=1 when it starts shutting down. Without
// NOTIFY_SOCKET (not under systemd, or under procd on OpenWrt) nothing is
// sent.
//
// READY=1 is sent when Agent.Run has started its sender and collectors, not
// after the first Welcome: the agent buffers while the collector service is
// unreachable, and a device booting without network must neither fail its
// start job (TimeoutStartSec) nor hold up the units ordered after it.

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/offbox/offbox/agent"
)

type sdNotifier struct {
	log   *slog.Logger
	once  sync.Once
	alive func() // returns once the agent's queue answers; set by run
	stop  chan struct{}
	wg    sync.WaitGroup
}

// run runs the agent, sending STOPPING=1 when ctx ends and pinging the
// watchdog (from ready) until Run returns.
func (n *sdNotifier) run(ctx context.Context, a *agent.Agent) error {
	n.alive = func() { a.Stats() }
	n.stop = make(chan struct{})
	defer func() { close(n.stop); n.wg.Wait() }()
	defer context.AfterFunc(ctx, func() { n.notify(daemon.SdNotifyStopping) })()
	return a.Run(ctx)
}

// ready is agent.Config.Ready: READY=1, then the watchdog loop.
func (n *sdNotifier) ready() {
	n.once.Do(func() {
		n.notify(daemon.SdNotifyReady)
		every, err := daemon.SdWatchdogEnabled(false)
		if err != nil {
			n.log.Warn("systemd watchdog disabled", "err", err)
			return
		}
		if every <= 0 {
			return
		}
		n.wg.Add(1)
		go func() { defer n.wg.Done(); n.watchdog(every / 2) }()
	})
}

// watchdog sends WATCHDOG=1 every interval, each time only after alive
// returns: an agent wedged on its queue lock stops the pings and systemd
// restarts it.
func (n *sdNotifier) watchdog(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
			n.alive()
			n.notify(daemon.SdNotifyWatchdog)
		}
	}
}

// notify sends one state; errors are logged at debug level only: a lost
// notification is for systemd to act on.
func (n *sdNotifier) notify(state string) {
	if sent, err := daemon.SdNotify(false, state); err != nil {
		n.log.Debug("sd_notify", "state", state, "err", err)
	} else if sent {
		n.log.Debug("sd_notify", "state", state)
	}
}
