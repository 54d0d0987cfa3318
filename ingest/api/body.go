package api

import (
	"net/http"
	"time"
)

// DefaultBodyTimeout is how long a request with a body has to send it.
const DefaultBodyTimeout = 10 * time.Second

// BodyDeadline gives a request that has a body d to send it: without it,
// a peer that sends headers announcing a body and then nothing holds its
// connection for ever, even unauthenticated (net/http reads an unread
// body of up to 256 KiB before answering, with no deadline of its own
// unless the server has a ReadTimeout). A ReadTimeout is not used: once it
// passes, net/http cancels the request's context, which would cut a long
// search; requests without a body (every read) keep no deadline.
func BodyDeadline(next http.Handler, d time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength != 0 { // -1: chunked, length unknown
			http.NewResponseController(w).SetReadDeadline(time.Now().Add(d))
		}
		next.ServeHTTP(w, r)
	})
}
