package detect

import (
	"testing"
	"time"
)

// TestAccessGrouping: log_access alerts group like every kind: per
// operator, way in and method, or for refused calls per source address
// (an IPv6 /64) and method, within GroupWindow, with a count; only the
// first occurrence opens (and so notifies). A client's made-up methods
// share one group, and a summary of refused calls counts them all.
func TestAccessGrouping(t *testing.T) {
	t.Parallel()
	e := New(Config{})
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	type want struct {
		group  int // index of the occurrence whose group this joins; -1: a new group
		count  int
		opened bool
	}
	tests := []struct {
		in   AccessInput
		want want
	}{
		/* 0 */ {AccessInput{ID: 1, At: at(0), Who: "token:alice", Via: "dashboard", Remote: "10.0.0.5:4000", What: "GET /"}, want{-1, 1, true}},
		/* 1 */ {AccessInput{ID: 2, At: at(10), Who: "token:alice", Via: "dashboard", Remote: "10.0.0.5:4001", What: "GET /alerts?kind=fork"}, want{0, 2, false}},
		/* 2 */ {AccessInput{ID: 3, At: at(20), Who: "token:alice", Via: "api", Remote: "10.0.0.5:4002", What: "GET /api/v1/devices"}, want{-1, 1, true}},
		/* 3 */ {AccessInput{ID: 4, At: at(30), Who: "token:bob", Via: "dashboard", Remote: "10.0.0.6:4000", What: "GET /"}, want{-1, 1, true}},
		/* 4 */ {AccessInput{ID: 5, At: at(40), Who: WhoUnauthenticated, Via: "api", Remote: "10.0.0.9:1", What: "refused: GET /api/v1/devices"}, want{-1, 1, true}},
		/* 5 */ {AccessInput{ID: 6, At: at(41), Who: WhoUnauthenticated, Via: "api", Remote: "10.0.0.9:2", What: "refused: GET /x?y"}, want{4, 2, false}},
		/* 6 */ {AccessInput{ID: 7, At: at(42), Who: WhoUnauthenticated, Via: "api", Remote: "10.0.0.8:2", What: "refused: GET /x"}, want{-1, 1, true}},
		/* 7 */ {AccessInput{ID: 8, At: at(43), Who: WhoUnauthenticated, Via: "api", Remote: "10.0.0.9:3", What: "refused: AAAA1 /"}, want{-1, 1, true}},
		/* 8 */ {AccessInput{ID: 9, At: at(44), Who: WhoUnauthenticated, Via: "api", Remote: "10.0.0.9:3", What: "refused: AAAA2 /"}, want{7, 2, false}},
		/* 9 */ {AccessInput{ID: 10, At: at(45), Who: WhoUnauthenticated, Via: "api", Remote: "10.0.0.9:4", What: RefusalSummary(500, "GET /api/v1/alerts")}, want{4, 502, false}},
		/* 10 */ {AccessInput{ID: 11, At: at(46), Who: WhoUnauthenticated, Via: "api", Remote: "[2001:db8::1]:1", What: "refused: GET /"}, want{-1, 1, true}},
		/* 11 */ {AccessInput{ID: 12, At: at(47), Who: WhoUnauthenticated, Via: "api", Remote: "[2001:db8::ffff]:1", What: "refused: GET /"}, want{10, 2, false}},
		/* 12 */ {AccessInput{ID: 13, At: at(0).Add(20 * time.Minute), Who: "token:alice", Via: "dashboard", Remote: "10.0.0.5:4000", What: "GET /"}, want{-1, 1, true}},
		// A summary forged in an operator's read counts once.
		/* 13 */ {AccessInput{ID: 14, At: at(0).Add(21 * time.Minute), Who: "token:alice", Via: "dashboard", What: RefusalSummary(9999, "GET /")}, want{-1, 1, true}},
	}
	var ids []string
	for i, tt := range tests {
		a := e.Access(tt.in)
		ids = append(ids, a.ID)
		if tt.want.group >= 0 && a.ID != ids[tt.want.group] {
			t.Errorf("%d: group %s, want that of occurrence %d (%s)", i, a.Key, tt.want.group, ids[tt.want.group])
		}
		if tt.want.group < 0 {
			for j := range i {
				if ids[j] == a.ID {
					t.Errorf("%d: joined occurrence %d's group %q, want a new one", i, j, a.Key)
				}
			}
		}
		if a.Count != tt.want.count || a.Opened != tt.want.opened || a.Kind != AlertLogAccess || a.Device != "" {
			t.Errorf("%d: %s count %d opened %v, want count %d opened %v", i, a.Kind, a.Count, a.Opened, tt.want.count, tt.want.opened)
		}
		if a.Fields["what"] != tt.in.What || a.Fields["remote"] != tt.in.Remote {
			t.Errorf("%d: fields %v, want the latest access's", i, a.Fields)
		}
	}
}

func TestRefusalCount(t *testing.T) {
	t.Parallel()
	tests := []struct {
		who, via, what string
		want           int
	}{
		{WhoUnauthenticated, "api", RefusalSummary(41, "GET /api/v1/devices?x=(1"), 41},
		{WhoUnauthenticated, "dashboard", RefusalSummary(2, "POST /login"), 2},
		{WhoUnauthenticated, "api", "refused: GET /api/v1/devices", 1},
		{WhoUnauthenticated, "api", "refused: (0 calls, not recorded one by one; the latest GET /)", 1},
		{WhoUnauthenticated, "api", "refused: (x calls, not recorded one by one; the latest GET /)", 1},
		{WhoUnauthenticated, "cli", RefusalSummary(41, "GET /"), 1},
		{"token:alice", "api", RefusalSummary(41, "GET /"), 1},
	}
	for _, tt := range tests {
		if got := RefusalCount(tt.who, tt.via, tt.what); got != tt.want {
			t.Errorf("RefusalCount(%q, %q, %q) = %d, want %d", tt.who, tt.via, tt.what, got, tt.want)
		}
	}
}
