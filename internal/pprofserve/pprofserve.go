// Package pprofserve serves Go's profiles for the -pprof flag of both
// programs, on a loopback address only: a profile shows the program's
// memory (keys, log lines), so it must never be reachable from the
// network. It refuses any address that is not a literal loopback IP or
// localhost before listening, bounds connections, request bytes and time
// per connection, and is off unless asked for.
//
// It answers the two requests `go tool pprof` makes (GET
// /debug/pprof/profile?seconds=N and GET /debug/pprof/NAME) with a
// minimal HTTP/1.0 responder over runtime/pprof rather than
// net/http/pprof and net/http's server, which would add 0.85 to 1.2 MiB
// to the agent (arm64) against its 10 MiB budget. Profiles carry their
// symbols, so pprof needs nothing else.
package pprofserve

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"
)

// MaxConns bounds the connections served at once; more wait in the
// kernel's backlog.
const MaxConns = 4

// maxRequest bounds the bytes read of a request (line and headers).
const maxRequest = 8 << 10

// Check reports whether addr is a loopback HOST:PORT the profiler may
// listen on; the error names the address and says what to give instead.
func Check(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("-pprof %q: want HOST:PORT on loopback, e.g. 127.0.0.1:6060: %v", addr, err)
	}
	if port == "" {
		return fmt.Errorf("-pprof %q: no port; e.g. 127.0.0.1:6060", addr)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		what := "is not a loopback address"
		if host == "" || (ip != nil && ip.IsUnspecified()) {
			what = "listens on every interface"
		}
		return fmt.Errorf("-pprof %q %s: profiles show the program's memory and must not be reachable from the network; give 127.0.0.1:PORT, [::1]:PORT or localhost:PORT", addr, what)
	}
	return nil
}

// Start checks addr, listens on it and serves the profiles under
// /debug/pprof/ until stop is called. It returns the address listened on
// (useful with port 0).
func Start(addr string, log *slog.Logger) (bound net.Addr, stop func(), err error) {
	if err := Check(addr); err != nil {
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("-pprof: %w", err)
	}
	if tcp, ok := ln.Addr().(*net.TCPAddr); !ok || !tcp.IP.IsLoopback() { // localhost resolving elsewhere
		ln.Close()
		return nil, nil, fmt.Errorf("-pprof %q: bound %v, which is not loopback", addr, ln.Addr())
	}
	sem := make(chan struct{}, MaxConns)
	go func() {
		for {
			sem <- struct{}{}
			c, err := ln.Accept()
			if err != nil {
				if !errors.Is(err, net.ErrClosed) {
					log.Error("pprof listener stopped", "err", err)
				}
				return
			}
			go func() {
				defer func() { <-sem }()
				serve(c)
			}()
		}
	}()
	log.Info("pprof listening (loopback only)", "addr", ln.Addr().String(),
		"use", "go tool pprof http://"+ln.Addr().String()+"/debug/pprof/profile?seconds=30")
	return ln.Addr(), func() { ln.Close() }, nil
}

// Request is a parsed request: the profile's name ("profile" is CPU) and
// its parameters.
type Request struct {
	Name    string
	Seconds int // CPU profile length; default 30, 1 to 300
	Debug   int // 0: binary (protobuf); 1 or 2: text
}

// ParseRequest reads one request line ("GET /debug/pprof/NAME?k=v HTTP/1.1").
func ParseRequest(line string) (Request, error) {
	line = strings.TrimRight(line, "\r\n")
	method, rest, ok := strings.Cut(line, " ")
	if !ok || method != "GET" {
		return Request{}, errors.New("want GET")
	}
	target, proto, ok := strings.Cut(rest, " ")
	if !ok || !strings.HasPrefix(proto, "HTTP/1.") {
		return Request{}, errors.New("want HTTP/1.x")
	}
	path, query, _ := strings.Cut(target, "?")
	name, ok := strings.CutPrefix(path, "/debug/pprof/")
	if !ok || strings.Contains(name, "/") {
		return Request{}, errors.New("not found")
	}
	r := Request{Name: name, Seconds: 30}
	for _, kv := range strings.Split(query, "&") {
		k, v, _ := strings.Cut(kv, "=")
		n, err := strconv.Atoi(v)
		switch k {
		case "seconds":
			if err != nil || n < 1 || n > 300 {
				return Request{}, errors.New("seconds: want 1 to 300")
			}
			r.Seconds = n
		case "debug":
			if err != nil || n < 0 || n > 2 {
				return Request{}, errors.New("debug: want 0, 1 or 2")
			}
			r.Debug = n
		}
	}
	if r.Name != "" && r.Name != "profile" && pprof.Lookup(r.Name) == nil {
		return Request{}, errors.New("not found")
	}
	return r, nil
}

func serve(c net.Conn) {
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReaderSize(io.LimitReader(c, maxRequest), 1024)
	line, err := br.ReadString('\n')
	if err != nil {
		return
	}
	for { // headers, ignored
		h, err := br.ReadString('\n')
		if err != nil {
			return
		}
		if h == "\r\n" || h == "\n" {
			break
		}
	}
	r, err := ParseRequest(line)
	if err != nil {
		fmt.Fprintf(c, "HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain\r\n\r\n%s\n", err)
		return
	}
	c.SetWriteDeadline(time.Now().Add(time.Duration(r.Seconds)*time.Second + time.Minute))
	bw := bufio.NewWriter(c)
	defer bw.Flush()
	ctype := "application/octet-stream"
	if r.Debug != 0 || r.Name == "" {
		ctype = "text/plain; charset=utf-8"
	}
	if r.Name == "profile" {
		if err := pprof.StartCPUProfile(io.Discard); err != nil {
			fmt.Fprintf(bw, "HTTP/1.0 409 Conflict\r\nContent-Type: text/plain\r\n\r\n%s\n", err)
			return
		}
		pprof.StopCPUProfile() // free again: start it for real on the connection
	}
	fmt.Fprintf(bw, "HTTP/1.0 200 OK\r\nContent-Type: %s\r\n\r\n", ctype)
	switch r.Name {
	case "":
		bw.WriteString("profile?seconds=N (CPU)\n")
		for _, p := range pprof.Profiles() {
			fmt.Fprintf(bw, "%s (%d)\n", p.Name(), p.Count())
		}
	case "profile":
		if pprof.StartCPUProfile(bw) != nil {
			return
		}
		time.Sleep(time.Duration(r.Seconds) * time.Second)
		pprof.StopCPUProfile()
	default:
		if r.Name == "heap" || r.Name == "allocs" {
			runtime.GC() // the heap as of now, as net/http/pprof's ?gc=1
		}
		pprof.Lookup(r.Name).WriteTo(bw, r.Debug)
	}
}
