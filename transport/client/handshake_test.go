package client_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/offbox/offbox/agent"
	"github.com/offbox/offbox/internal/lockedbuf"
	"github.com/offbox/offbox/transport/client"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
	"github.com/offbox/offbox/transport/tlsconf"
)

// TestWrongCAIsOneSentence: with real TLS, a collector whose certificate
// another CA signed is reported as one plain sentence naming the CA to
// check: from Open (or the stream's first use), and in the agent's log
// line, with none of gRPC's quoted, escaped status text.
func TestWrongCAIsOneSentence(t *testing.T) {
	devicePKI, otherPKI := devPKI(t), devPKI(t)
	mixed := t.TempDir()
	for name, from := range map[string]string{"ca.pem": devicePKI, "ingest.pem": otherPKI, "ingest-key.pem": otherPKI} {
		copyFile(t, filepath.Join(from, name), filepath.Join(mixed, name))
	}
	_, addr := serve(t, mixed, "127.0.0.1:0", &store{})
	src, err := tlsconf.Load(files(devicePKI, "sw1"), tlsconf.Options{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(client.Config{Server: addr, TLS: src})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := c.Open(ctx)
	if err == nil {
		if err = s.Send(&offboxv1.AgentMessage{Msg: &offboxv1.AgentMessage_Hello{Hello: &offboxv1.Hello{}}}); err == nil {
			_, err = s.Recv()
		}
		s.Close()
	}
	var herr *client.HandshakeError
	if !errors.As(err, &herr) {
		t.Fatalf("err = %v (%T), want a *client.HandshakeError", err, err)
	}
	want := "the collector's certificate at " + addr + " does not verify against the CA this agent trusts (-ca, tls.ca)"
	if got := err.Error(); !strings.HasPrefix(got, want) || strings.ContainsAny(got, "\"\\\n") || strings.Contains(got, "rpc error") {
		t.Errorf("err = %q, want one unquoted sentence starting %q", got, want)
	}

	// The agent logs it as it is: one level of quoting, by the log format.
	var logs lockedbuf.Buffer
	a, err := agent.New(agent.Config{Dialer: agent.DialFunc(func(ctx context.Context) (agent.Stream, error) { return c.Open(ctx) }),
		Identity: agent.TLSIdentity(src), HostRoot: t.TempDir(), Heartbeat: time.Hour, DrainTimeout: time.Second,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	actx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.Run(actx) }()
	defer func() { stop(); <-done }()
	var line string
	waitFor(t, "the agent's connection error", func() bool {
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, "session with the collector ended") {
				line = l
				return true
			}
		}
		return false
	})
	if !strings.Contains(line, want) || strings.Contains(line, `\"`) || strings.Contains(line, `\\`) || strings.Contains(line, "desc =") {
		t.Errorf("agent log line %q: want %q without escaped quotes", line, want)
	}
}
