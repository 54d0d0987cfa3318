// Package layout checks the dependency direction ARCHITECTURE.md fixes: cmd
// wires; agent depends on collectors and transport, never on gRPC;
// collectors never import the agent, gRPC or each other; ingest never
// imports the agent or the collectors; the agent binary links nothing the
// collector needs.
package layout

import (
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/offbox/offbox/"

// deps lists the packages pkg imports, directly or not.
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	return strings.Fields(string(out))
}

func packages(t *testing.T, pattern string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", pattern).Output()
	if err != nil {
		t.Fatalf("go list %s: %v", pattern, err)
	}
	return strings.Fields(string(out))
}

func TestDependencyDirection(t *testing.T) {
	t.Parallel()
	type rule struct {
		pattern   string
		forbidden func(self, dep string) bool
		why       string
	}
	rules := []rule{
		{"../../collectors/...", func(self, dep string) bool {
			return strings.HasPrefix(dep, mod+"agent") || strings.HasPrefix(dep, "google.golang.org/grpc") ||
				strings.HasPrefix(dep, mod+"ingest") || strings.HasPrefix(dep, mod+"transport") ||
				(strings.HasPrefix(dep, mod+"collectors/") && !strings.HasPrefix(dep, self))
		}, "collectors never import the agent, gRPC, transport or each other"},
		{"../../agent/...", func(self, dep string) bool {
			return strings.HasPrefix(dep, "google.golang.org/grpc") || strings.HasPrefix(dep, mod+"transport/client") ||
				strings.HasPrefix(dep, mod+"ingest")
		}, "the agent owns the interfaces it needs (Stream, Dialer) and never depends on gRPC or the client that implements them; cmd/offbox wires them"},
		{"../../transport/proto/offbox/v1", func(self, dep string) bool {
			return strings.HasPrefix(dep, "google.golang.org/grpc")
		}, "the messages never depend on gRPC: the generated services are offboxv1grpc"},
		{"../../ingest/...", func(self, dep string) bool {
			return strings.HasPrefix(dep, mod+"agent") || strings.HasPrefix(dep, mod+"collectors")
		}, "ingest never imports the agent or the collectors"},
		{"../../transport/...", func(self, dep string) bool {
			return strings.HasPrefix(dep, mod+"agent") || strings.HasPrefix(dep, mod+"ingest") || strings.HasPrefix(dep, mod+"collectors")
		}, "transport is shared by both programs and depends on neither"},
		{"../../cmd/offbox", func(self, dep string) bool {
			return strings.HasPrefix(dep, mod+"ingest") || strings.HasPrefix(dep, "modernc.org/sqlite") || strings.HasPrefix(dep, "github.com/jackc/") ||
				strings.HasPrefix(dep, "github.com/hashicorp/go-retryablehttp") || strings.HasPrefix(dep, "golang.org/x/time")
		}, "the agent binary links nothing the collector needs (SQLite, PostgreSQL, ingest, alert delivery, rate limits)"},
		{"../../cmd/...", func(self, dep string) bool {
			for _, p := range []string{"ingest/batchtest", "ingest/forward/forwardtest", "ingest/store/storetest", "ingest/store/postgres/pgtest", "internal/testpeer", "internal/testpeer/mailpit", "internal/testreport"} {
				if dep == mod+p {
					return true
				}
			}
			return false
		}, "test helpers are linked into no program"},
	}
	for _, r := range rules {
		for _, pkg := range packages(t, r.pattern) {
			for _, d := range deps(t, pkg) {
				if d != pkg && r.forbidden(pkg, d) {
					t.Errorf("%s imports %s: %s", pkg, d, r.why)
				}
			}
		}
	}
}
