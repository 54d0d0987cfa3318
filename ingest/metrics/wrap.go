package metrics

import (
	"context"
	"net/http"
	"strings"
	"unicode"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
	"github.com/offbox/offbox/transport/proto/offbox/v1/offboxv1grpc"
)

// API counts the operator listener's requests by way in (api for
// /api/..., dashboard for the rest) and status code. It wraps the
// listener's outermost handler, so refusals (403, 401) count too.
func (m *Metrics) API(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		via := "dashboard"
		if strings.HasPrefix(r.URL.Path, "/api/") {
			via = "api"
		}
		code := rec.status
		if code == 0 {
			code = http.StatusOK // nothing written: net/http answers 200
		}
		m.apiRequests.WithLabelValues(via, apiCode(code)).Inc()
	})
}

// statusRecorder keeps the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 && code >= 200 { // 1xx are interim
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (Flush,
// deadlines).
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Flush passes a flush on, for handlers that stream (w.(http.Flusher)).
func (s *statusRecorder) Flush() {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// APIRefused registers the operator listener's connections refused before
// TLS for an address outside api.allow_cidrs (api.Guard's Refused).
func (m *Metrics) APIRefused(refused func() uint64) {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: Namespace, Name: "api_connections_refused_total",
		Help: "Connections to the operator listener reset before TLS: their address is outside api.allow_cidrs."},
		func() float64 { return float64(refused()) }))
}

// Enrollment returns svc counting its calls by result.
func (m *Metrics) Enrollment(svc offboxv1grpc.EnrollmentServer) offboxv1grpc.EnrollmentServer {
	return &enrollCounter{EnrollmentServer: svc, m: m}
}

type enrollCounter struct {
	offboxv1grpc.EnrollmentServer
	m *Metrics
}

func (e *enrollCounter) Enroll(ctx context.Context, req *offboxv1.EnrollRequest) (*offboxv1.EnrollResponse, error) {
	resp, err := e.EnrollmentServer.Enroll(ctx, req)
	e.m.enrollments.WithLabelValues("enroll", result(err)).Inc()
	return resp, err
}

func (e *enrollCounter) Renew(ctx context.Context, req *offboxv1.RenewRequest) (*offboxv1.RenewResponse, error) {
	resp, err := e.EnrollmentServer.Renew(ctx, req)
	e.m.enrollments.WithLabelValues("renew", result(err)).Inc()
	return resp, err
}

// result is "ok", or an error's gRPC code in snake case
// (invalid_argument, resource_exhausted...): a bounded set.
func result(err error) string {
	if err == nil {
		return "ok"
	}
	return snake(status.Code(err))
}

func snake(c codes.Code) string {
	var b strings.Builder
	for i, r := range c.String() {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}
