package main

import "testing"

func TestPackageOf(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"crypto/tls.(*Conn).Read", "crypto/tls"},
		{"runtime.mallocgc", "runtime"},
		{"type:*google.golang.org/grpc.ClientConn", "google.golang.org/grpc"},
		{"type:.eq.github.com/offbox/offbox/agent.Stats", "github.com/offbox/offbox/agent"},
		{"go:itab.*google.golang.org/protobuf/internal/impl.messageState,google.golang.org/protobuf/reflect/protoreflect.Message", "google.golang.org/protobuf/internal/impl"},
		{"gopkg.in/yaml%2ev3.(*parser).parse", "gopkg.in/yaml%2ev3"},
		{"slices.SortFunc[go.shape.[]uint8,go.shape.uint8]", "slices"},
		{"type:[]github.com/offbox/offbox/collectors.Attr", "github.com/offbox/offbox/collectors"},
		{"go:func.*", "go:func"},
		{"google.golang.org/grpc/internal/transport.(*parsedDataFrame).golang.org/x/net/http2.invalidate", "google.golang.org/grpc/internal/transport"},
		{"type:struct { os/exec.in string }", "struct"},
		{"crypto/ecdsa..dict.publicKeyToFIPS[*crypto/internal/fips140/nistec.P521Point]", "crypto/ecdsa"},
	} {
		if got := packageOf(tc.in); got != tc.want {
			t.Errorf("packageOf(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestModuleOf(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"google.golang.org/grpc/internal/transport", "google.golang.org/grpc"},
		{"github.com/shirou/gopsutil/v3/mem", "github.com/shirou/gopsutil"},
		{"golang.org/x/net/http2", "golang.org/x/net"},
		{"crypto/internal/fips140/drbg", "std:crypto"},
		{"main", "std:main"},
	} {
		if got := moduleOf(tc.in); got != tc.want {
			t.Errorf("moduleOf(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParseNM(t *testing.T) {
	t.Parallel()
	a, s, n, ok := parseNM("  b5c660   33554432 D crypto/internal/fips140/drbg.memory")
	if !ok || a != 0xb5c660 || s != 33554432 || n != "crypto/internal/fips140/drbg.memory" {
		t.Errorf("parseNM = %x %d %q %v", a, s, n, ok)
	}
	if _, _, _, ok := parseNM("         U runtime.x"); ok {
		t.Error("an undefined symbol parsed")
	}
}
