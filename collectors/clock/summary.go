package clock

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/offbox/offbox/collectors"
)

// Summary is one round's verdict on the local clock; its JSON is the body of
// a CLOCK record and goes into the agent's heartbeat. Offsets are server
// minus local, in nanoseconds: positive means the local clock is behind.
type Summary struct {
	Time         time.Time      `json:"time"`
	OK           bool           `json:"ok"`                     // a combined offset was found
	OffsetNS     int64          `json:"offset_ns"`              // combined offset of the truechimers
	Offset       string         `json:"offset,omitempty"`       // the same for people
	ErrorBoundNS int64          `json:"error_bound_ns"`         // the true offset lies within OffsetNS ± this
	SpreadNS     int64          `json:"spread_ns"`              // max-min offset among truechimers
	NoMajority   bool           `json:"no_majority"`            // no point is shared by more than half of the usable servers
	Agree        int            `json:"agree,omitempty"`        // servers in the largest agreeing group
	Candidates   int            `json:"candidates"`             // servers with a usable sample that took part in selection
	Reachable    int            `json:"reachable"`              // servers with a nonzero reach register
	Truechimers  []string       `json:"truechimers,omitempty"`  // addresses
	Falsetickers []string       `json:"falsetickers,omitempty"` // addresses
	Unreachable  []string       `json:"unreachable,omitempty"`  // polled, and no usable answer in the last 8 polls
	RateLimited  []string       `json:"rate_limited,omitempty"` // last answer was kiss-of-death RATE: polled less often
	Refused      []string       `json:"refused,omitempty"`      // kiss-of-death DENY or RSTR: no longer polled
	Servers      []ServerStatus `json:"servers"`                // every known server, sorted by address
	Kernel       Kernel         `json:"kernel"`                 // adjtimex, read only
	Step         *Step          `json:"step,omitempty"`         // the wall clock jumped since the previous round
	Reasons      []string       `json:"reasons,omitempty"`      // why OK is false, or what else went wrong
}

// ServerStatus is one NTP server as the collector sees it.
type ServerStatus struct {
	Address      string `json:"address"`              // host:port queried
	Origin       string `json:"origin"`               // "config" or the DNS name it came from
	State        string `json:"state"`                // truechimer, falseticker, unreachable, refused, rate_limited, unsynced, pending
	Reach        uint8  `json:"reach"`                // 8-bit register, newest poll in bit 0
	Polls        int    `json:"polls"`                // polls so far
	Samples      int    `json:"samples"`              // in the window
	OffsetNS     int64  `json:"offset_ns"`            // of the lowest-delay sample in the window
	DelayNS      int64  `json:"delay_ns"`             // round trip of that sample
	JitterNS     int64  `json:"jitter_ns"`            // RMS of offset differences in the window
	ErrorBoundNS int64  `json:"error_bound_ns"`       // delay/2 + root delay/2 + root dispersion (+ precision and age)
	AgeNS        int64  `json:"age_ns,omitempty"`     // of that sample
	Stratum      uint8  `json:"stratum,omitempty"`    // of the latest answer
	Leap         uint8  `json:"leap"`                 // of the latest answer: 0 none, 1 insert, 2 delete, 3 unsynchronised
	RefID        string `json:"refid,omitempty"`      // of the latest answer
	PollNS       int64  `json:"poll_ns"`              // this server's poll interval: the collector's Interval, longer after RATE
	Kiss         string `json:"kiss,omitempty"`       // last kiss-of-death code
	LastError    string `json:"last_error,omitempty"` // of the last failed query

	usable bool // a candidate for selection: reachable, synchronised, a sample in hand
}

// Step is a jump of the wall clock against the monotonic clock between two
// rounds: someone set the time.
type Step struct {
	StepNS int64  `json:"step_ns"` // wall delta minus monotonic delta; positive: the clock jumped forward
	Step   string `json:"step"`    // the same for people
}

// stepThreshold is the smallest wall/monotonic disagreement reported as a
// step; below it is slewing and scheduling noise.
const stepThreshold = 100 * time.Millisecond

// detectStep compares how far the wall clock and the monotonic clock moved
// between two rounds.
func detectStep(prevWall time.Time, prevMono time.Duration, wall time.Time, mono time.Duration) *Step {
	if prevWall.IsZero() {
		return nil
	}
	// Round(0) drops Go's monotonic reading, which would hide the step.
	d := wall.Round(0).Sub(prevWall.Round(0)) - (mono - prevMono)
	if d > -stepThreshold && d < stepThreshold {
		return nil
	}
	return &Step{StepNS: int64(d), Step: d.String()}
}

// buildSummary is the pure part of a round: selection over the usable
// servers, their states, the lists and the reasons.
func buildSummary(now time.Time, servers []ServerStatus, kernel Kernel, step *Step, reasons []string) Summary {
	s := Summary{Time: now, Servers: servers, Kernel: kernel, Step: step, Reasons: reasons}
	var (
		ivs []Interval
		idx []int // into servers
	)
	for i := range servers {
		sv := &servers[i]
		if sv.Reach != 0 {
			s.Reachable++
		}
		if sv.Kiss == "RATE" {
			s.RateLimited = append(s.RateLimited, sv.Address)
		}
		switch {
		case sv.State == "refused":
			s.Refused = append(s.Refused, sv.Address)
		case sv.usable:
			ivs = append(ivs, Interval{Offset: sv.OffsetNS, Bound: sv.ErrorBoundNS})
			idx = append(idx, i)
		case sv.Kiss == "RATE":
			// It answers, only not with the time: not unreachable.
		case sv.Polls > 0 && sv.Reach == 0:
			sv.State = "unreachable"
			s.Unreachable = append(s.Unreachable, sv.Address)
		}
	}
	s.Candidates = len(ivs)
	sel := Select(ivs)
	s.Agree = sel.Agree
	for _, i := range sel.Truechimers {
		servers[idx[i]].State = "truechimer"
		s.Truechimers = append(s.Truechimers, servers[idx[i]].Address)
	}
	for _, i := range sel.Falsetickers {
		servers[idx[i]].State = "falseticker"
		s.Falsetickers = append(s.Falsetickers, servers[idx[i]].Address)
	}
	switch {
	case len(servers) == 0:
		s.Reasons = append(s.Reasons, "no NTP servers")
	case len(ivs) == 0 && s.Reachable == 0:
		s.Reasons = append(s.Reasons, "no server answered")
	case len(ivs) == 0:
		s.Reasons = append(s.Reasons, "no usable sample from any server")
	case !sel.Majority:
		s.NoMajority = true
		s.Reasons = append(s.Reasons, fmt.Sprintf("no majority: at most %d of %d servers agree", sel.Agree, len(ivs)))
	default:
		s.OK = true
		s.OffsetNS = sel.Offset
		s.Offset = time.Duration(sel.Offset).String()
		s.ErrorBoundNS = sel.Bound
		s.SpreadNS = sel.Spread
	}
	if step != nil {
		s.Reasons = append(s.Reasons, "wall clock stepped by "+step.Step+"; older samples dropped")
	}
	return s
}

// maxReasonsAttr bounds the reasons attribute; the body has them all.
const maxReasonsAttr = 200

// record turns a summary into a CLOCK record.
func record(s Summary) collectors.Record {
	body, err := json.Marshal(s)
	if err != nil { // cannot happen: a Summary has no NaN, no cycle
		body = []byte(`{"ok":false}`)
	}
	attrs := make([]collectors.Attr, 0, 12)
	if s.OK {
		attrs = append(attrs,
			collectors.Attr{Key: "offset_ns", Value: strconv.FormatInt(s.OffsetNS, 10)},
			collectors.Attr{Key: "error_bound_ns", Value: strconv.FormatInt(s.ErrorBoundNS, 10)})
	}
	synced := "unknown"
	if s.Kernel.Error == "" {
		synced = strconv.FormatBool(s.Kernel.Synced)
	}
	attrs = append(attrs,
		collectors.Attr{Key: "servers", Value: strconv.Itoa(len(s.Servers))},
		collectors.Attr{Key: "reachable", Value: strconv.Itoa(s.Reachable)},
		collectors.Attr{Key: "falsetickers", Value: strings.Join(s.Falsetickers, ",")},
		collectors.Attr{Key: "unreachable", Value: strings.Join(s.Unreachable, ",")},
		collectors.Attr{Key: "no_majority", Value: strconv.FormatBool(s.NoMajority)},
		collectors.Attr{Key: "kernel_synced", Value: synced})
	if len(s.Refused) > 0 {
		attrs = append(attrs, collectors.Attr{Key: "refused", Value: strings.Join(s.Refused, ",")})
	}
	if len(s.RateLimited) > 0 {
		attrs = append(attrs, collectors.Attr{Key: "rate_limited", Value: strings.Join(s.RateLimited, ",")})
	}
	if s.Step != nil {
		attrs = append(attrs, collectors.Attr{Key: "step_ns", Value: strconv.FormatInt(s.Step.StepNS, 10)})
	}
	if len(s.Reasons) > 0 {
		r := strings.Join(s.Reasons, "; ")
		if len(r) > maxReasonsAttr {
			r = r[:maxReasonsAttr-3] + "..."
		}
		attrs = append(attrs, collectors.Attr{Key: "reasons", Value: r})
	}
	return collectors.Record{
		Time:   s.Time,
		Kind:   collectors.KindClock,
		Source: "clock",
		Body:   body,
		Attrs:  attrs,
	}
}
