package server

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// refusal ends a stream for a reason the agent must hear as given: its own
// fault (InvalidArgument, PermissionDenied, Unauthenticated), a second
// stream (AlreadyExists), or our shutdown (Unavailable).
type refusal struct {
	code codes.Code
	msg  string
}

func (r *refusal) Error() string { return r.msg }

func refuse(code codes.Code, format string, args ...any) error {
	return &refusal{code: code, msg: fmt.Sprintf(format, args...)}
}

var errShuttingDown = refuse(codes.Unavailable, "collector shutting down; reconnect")

// storeError marks a failure of the store: the agent should retry later,
// when it will get a fresh head and resend.
type storeError struct{ err error }

func (e *storeError) Error() string { return "store: " + e.err.Error() }
func (e *storeError) Unwrap() error { return e.err }

func fromStore(err error) error {
	if err == nil {
		return nil
	}
	return &storeError{err}
}

// toStatus is the one place an error becomes the gRPC status that ends a
// stream. Retryable: store failures and shutdown → Unavailable. The
// caller's fault: the refusal's own code. Errors of the stream itself
// (the peer went away) keep their status.
func toStatus(err error) error {
	var r *refusal
	var se *storeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &r):
		return status.Error(r.code, r.msg)
	case errors.As(err, &se):
		return status.Error(codes.Unavailable, se.Error())
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	}
	if s, ok := status.FromError(err); ok {
		return s.Err()
	}
	return status.Error(codes.Internal, err.Error())
}
