package detect

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// t0 is a Monday at 10:00 UTC: inside the default working window.
var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

const dev = "sw1"

// step is one thing that happens to the engine: a record, an integrity
// event or a tick.
type step struct {
	in    *Input
	integ *IntegrityInput
	tick  time.Time
}

// rec is a record of kind at device time at, received 1 s later.
func rec(kind string, at time.Time, attrs ...string) step {
	in := &Input{Device: dev, Kind: kind, DeviceTime: at, ReceivedTime: at.Add(time.Second), Attrs: map[string]string{}}
	for i := 0; i+1 < len(attrs); i += 2 {
		in.Attrs[attrs[i]] = attrs[i+1]
	}
	return step{in: in}
}

func withBody(s step, body string) step { s.in.Body = []byte(body); return s }

func received(s step, at time.Time) step { s.in.ReceivedTime = at; return s }

func session(s step, id, boot string) step { s.in.SessionID, s.in.BootID = id, boot; return s }

// line is a syslog line read at device time at.
func line(at time.Time, format string, args ...any) step {
	return withBody(rec("log", at), at.Format(time.Stamp)+" sw1 "+fmt.Sprintf(format, args...))
}

func failed(at time.Time, user, source string) step {
	return line(at, "sshd[123]: Failed password for %s from %s port 22 ssh2", user, source)
}

func accepted(at time.Time, user, source string) step {
	return line(at, "sshd[123]: Accepted password for %s from %s port 22 ssh2", user, source)
}

func boot(at time.Time, bootID, version, source, model string) step {
	return withBody(rec("boot", at, "boot_id", bootID, "firmware_version", version, "model", model),
		fmt.Sprintf(`{"boot_id":%q,"firmware_version":%q,"firmware_source":%q,"model":%q}`, bootID, version, source, model))
}

// crashBoot is a BOOT record whose pstore carries crash records: texts, with
// the agent's verdict (panicked) and most telling line.
func crashBoot(at time.Time, bootID string, panicked bool, crashLine string, texts ...string) step {
	type record struct {
		Text string `json:"text"`
	}
	body := struct {
		BootID          string `json:"boot_id"`
		FirmwareVersion string `json:"firmware_version"`
		FirmwareSource  string `json:"firmware_source"`
		Model           string `json:"model"`
		Pstore          struct {
			HasRecords bool     `json:"has_records"`
			Records    []record `json:"records"`
			Panic      bool     `json:"panic,omitempty"`
			CrashLine  string   `json:"crash_line,omitempty"`
		} `json:"pstore"`
	}{BootID: bootID, FirmwareVersion: "1.0", FirmwareSource: "os-release", Model: "m"}
	body.Pstore.HasRecords, body.Pstore.Panic, body.Pstore.CrashLine = true, panicked, crashLine
	for _, t := range texts {
		body.Pstore.Records = append(body.Pstore.Records, record{Text: t})
	}
	b, err := json.Marshal(body)
	if err != nil {
		panic(err)
	}
	return withBody(rec("boot", at, "boot_id", bootID, "firmware_version", "1.0", "model", "m"), string(b))
}

func integrity(kind string, at time.Time, seq uint64) step {
	return step{integ: &IntegrityInput{Device: dev, Kind: kind, Time: at, Seq: seq, Detail: "test"}}
}

func tick(at time.Time) step { return step{tick: at} }

func mins(n float64) time.Duration { return time.Duration(n * float64(time.Minute)) }

// run feeds the steps to a new engine and returns every alert returned, in
// order. Records without a Seq get their step number.
func run(cfg Config, steps []step) (*Engine, []Alert) {
	e := New(cfg)
	return e, feed(e, steps...)
}

// feed gives the steps to e and returns every alert returned, in order.
func feed(e *Engine, steps ...step) []Alert {
	var out []Alert
	for i, s := range steps {
		switch {
		case s.in != nil:
			in := *s.in
			if in.Seq == 0 {
				in.Seq = uint64(i + 1)
			}
			out = append(out, e.Observe(in)...)
		case s.integ != nil:
			out = append(out, e.Integrity(*s.integ)...)
		default:
			out = append(out, e.Tick(s.tick)...)
		}
	}
	return out
}

// kindsOf lists the alerts' kinds, comma-separated.
func kindsOf(alerts []Alert) string {
	var k []string
	for _, a := range alerts {
		k = append(k, a.Kind)
	}
	return strings.Join(k, ",")
}

func ofKind(alerts []Alert, kind string) []Alert {
	var out []Alert
	for _, a := range alerts {
		if a.Kind == kind {
			out = append(out, a)
		}
	}
	return out
}
