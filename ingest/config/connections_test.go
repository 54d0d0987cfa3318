package config

import (
	"strings"
	"testing"
)

// TestConnectionCaps: max_connections and api.max_connections default
// when 0, keep a value in range, and name the key of one out of range.
func TestConnectionCaps(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		ingest, api int
		wantIngest  int
		wantAPI     int
		wantErr     []string
	}{
		{"defaults", 0, 0, DefaultMaxConnections, DefaultAPIMaxConnections, nil},
		{"set", 20000, 8, 20000, 8, nil},
		{"bounds", 1 << 20, 65536, 1 << 20, 65536, nil},
		{"negative", -1, -5, 0, 0, []string{"max_connections -1: want 0 (default 16384) to 1048576", "api.max_connections -5: want 0 (default 256) to 65536"}},
		{"too many", 1<<20 + 1, 65537, 0, 0, []string{"max_connections 1048577", "api.max_connections 65537"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := Default()
			c.MaxConnections, c.API.MaxConnections = tc.ingest, tc.api
			err := c.CheckSyntax()
			var got string
			if err != nil {
				got = err.Error()
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(got, w) {
					t.Errorf("problems %q, want %q", got, w)
				}
			}
			if tc.wantErr != nil {
				return
			}
			if strings.Contains(got, "max_connections") {
				t.Errorf("problems %q, want none about max_connections", got)
			}
			if g := c.IngestMaxConnections(); g != tc.wantIngest {
				t.Errorf("IngestMaxConnections = %d, want %d", g, tc.wantIngest)
			}
			if g := c.APIMaxConnections(); g != tc.wantAPI {
				t.Errorf("APIMaxConnections = %d, want %d", g, tc.wantAPI)
			}
		})
	}
}
