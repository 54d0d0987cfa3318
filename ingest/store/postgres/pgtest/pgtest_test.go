package pgtest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestDropRetrying(t *testing.T) {
	t.Parallel()
	refused := &pgconn.PgError{Code: "42501", Message: "must be a member of the role whose process is being terminated or member of pg_signal_backend"}
	other := &pgconn.PgError{Code: "55006", Message: "database is being accessed by other users"}
	tests := []struct {
		name      string
		results   []error // what each drop returns, in order; past the end: nil
		wantCalls int
		wantErr   error
	}{
		{"dropped at once", nil, 1, nil},
		{"refused twice, then dropped", []error{refused, refused}, 3, nil},
		{"another error is not retried", []error{other}, 1, other},
		{"refused every time", []error{refused, refused, refused, refused, refused}, 4, refused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			err := dropRetrying(context.Background(), func(context.Context) error {
				calls++
				if calls <= len(tt.results) {
					return tt.results[calls-1]
				}
				return nil
			}, 4, time.Millisecond)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
			if calls != tt.wantCalls {
				t.Errorf("drop ran %d times, want %d", calls, tt.wantCalls)
			}
		})
	}
}
