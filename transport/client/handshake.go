package client

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"

	"google.golang.org/grpc/credentials"
)

// A failed TLS handshake reaches the caller from gRPC as an Unavailable
// status whose text quotes the transport's text, which quotes the TLS
// error: logged, that is three levels of escaped quotes around "x509:
// certificate signed by unknown authority". The client records the
// handshake's own error as it happens and returns it instead, as one
// sentence that says what to check.

// handshakeRecorder keeps the error of the last handshake of one
// connection (nil when it succeeded).
type handshakeRecorder struct {
	mu  sync.Mutex
	err error
}

func (r *handshakeRecorder) set(err error) {
	r.mu.Lock()
	r.err = err
	r.mu.Unlock()
}

func (r *handshakeRecorder) get() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// recordingCreds are transport credentials that record the client
// handshake's error.
type recordingCreds struct {
	credentials.TransportCredentials
	rec *handshakeRecorder
}

func (c recordingCreds) ClientHandshake(ctx context.Context, authority string, conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	out, info, err := c.TransportCredentials.ClientHandshake(ctx, authority, conn)
	c.rec.set(err) // nil after a good one: gRPC may have retried
	return out, info, err
}

func (c recordingCreds) Clone() credentials.TransportCredentials {
	return recordingCreds{TransportCredentials: c.TransportCredentials.Clone(), rec: c.rec}
}

// HandshakeError is a TLS handshake with the collector that failed.
type HandshakeError struct {
	Server string // host:port dialled
	Err    error  // the TLS error
}

func (e *HandshakeError) Unwrap() error { return e.Err }

func (e *HandshakeError) Error() string {
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	switch {
	case errors.As(e.Err, &unknown):
		return fmt.Sprintf("the collector's certificate at %s does not verify against the CA this agent trusts (-ca, tls.ca): "+
			"it was signed by %s; give the CA that signed the collector's certificate", e.Server, issuer(unknown.Cert))
	case errors.As(e.Err, &host):
		return fmt.Sprintf("the collector's certificate at %s is not valid for the name %s (-server-name, server_name): %v", e.Server, host.Host, host)
	case errors.As(e.Err, &invalid):
		return fmt.Sprintf("the collector's certificate at %s is not valid: %v", e.Server, invalid)
	}
	return fmt.Sprintf("TLS handshake with the collector at %s failed: %v", e.Server, e.Err)
}

// issuer names the issuer of cert for a message.
func issuer(cert *x509.Certificate) string {
	if cert == nil {
		return "an unknown CA"
	}
	return cert.Issuer.String()
}

// handshakeErr is err, or the recorded handshake error that caused it.
func handshakeErr(server string, rec *handshakeRecorder, err error) error {
	if err == nil || errors.Is(err, io.EOF) { // EOF: the collector ended a stream it had accepted
		return err
	}
	if herr := rec.get(); herr != nil {
		return &HandshakeError{Server: server, Err: herr}
	}
	return err
}
