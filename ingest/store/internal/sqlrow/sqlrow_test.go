package sqlrow

import (
	"database/sql"
	"errors"
	"slices"
	"testing"

	"github.com/offbox/offbox/ingest/store"
)

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

func TestRowNoRows(t *testing.T) {
	t.Parallel()
	other := errors.New("conn closed")
	tests := []struct {
		name string
		scan error
		want error
	}{
		{"a row", nil, nil},
		{"the driver's no rows", sql.ErrNoRows, ErrNoRows},
		{"the driver's no rows, wrapped", errors.Join(errors.New("scan"), sql.ErrNoRows), ErrNoRows},
		{"another error", other, other},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Row{Scanner: errRow{tt.scan}, NoRows: sql.ErrNoRows}.Scan()
			if got != tt.want {
				t.Errorf("Scan() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestMovedHead(t *testing.T) {
	t.Parallel()
	b := &store.Batch{Device: "d1", ExpectHead: 4}
	failed := errors.New("deadlock")
	tests := []struct {
		name    string
		n       int64
		err     error
		wantErr error // nil: no error
	}{
		{"moved", 1, nil, nil},
		{"not moved: the head is not the expected one", 0, nil, store.ErrHeadMoved},
		{"the statement failed", 0, failed, failed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := MovedHead(b, 5, tt.n, tt.err)
			if (err == nil) != (tt.wantErr == nil) || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
				t.Errorf("MovedHead(n=%d, %v) = %v, want %v", tt.n, tt.err, err, tt.wantErr)
			}
		})
	}
}

func TestGroupDefaults(t *testing.T) {
	t.Parallel()
	tests := []struct{ group, bytes, wantGroup, wantBytes int }{
		{0, 0, 128, 64 << 20},
		{3, 0, 3, 64 << 20},
		{0, 1 << 10, 128, 1 << 10},
	}
	for _, tt := range tests {
		g, b := GroupDefaults(tt.group, tt.bytes)
		if g != tt.wantGroup || b != tt.wantBytes {
			t.Errorf("GroupDefaults(%d, %d) = %d, %d, want %d, %d", tt.group, tt.bytes, g, b, tt.wantGroup, tt.wantBytes)
		}
	}
}

func TestSameVersion(t *testing.T) {
	t.Parallel()
	migrations := []string{"a", "b"}
	for v, wantErr := range map[int]bool{0: true, 1: true, 2: false, 3: true} {
		if err := SameVersion(v, migrations); (err != nil) != wantErr {
			t.Errorf("SameVersion(%d, 2 migrations) = %v, want error %v", v, err, wantErr)
		}
	}
}

// A save's chunks take only AlertSizes (the statements an engine may
// prepare), the largest that fits, and cover every row.
func TestAlertSize(t *testing.T) {
	for n := 1; n <= 3000; n++ {
		left, parts := n, 0
		for left > 0 {
			s := alertSize(left)
			if !slices.Contains(AlertSizes, s) || s > left {
				t.Fatalf("alertSize(%d) = %d, not one of %v at most %d", left, s, AlertSizes, left)
			}
			for _, bigger := range AlertSizes {
				if bigger > s && bigger <= left {
					t.Fatalf("alertSize(%d) = %d, but %d fits", left, s, bigger)
				}
			}
			left -= s
			parts++
		}
		if parts > n/alertChunk+3*(len(AlertSizes)-1) { // at most three of each smaller size
			t.Fatalf("%d rows in %d statements", n, parts)
		}
	}
}
