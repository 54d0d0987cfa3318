package agent

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/offbox/offbox/collectors"
)

// DryRunConfig is what DryRun runs.
type DryRunConfig struct {
	Collectors []collectors.Collector // run without checkpoints: file tailers start where StartAt says
	Out        io.Writer              // one JSON object per record and line
	Logger     *slog.Logger           // nil: slog.Default()
	Now        func() time.Time       // nil: time.Now
	Once       bool                   // read each collector that is a OnceReader to its end, then return; the others are not run
}

// OnceReader is a source that can be read to its end (the file tailer):
// ReadOnce emits what there is now and returns.
type OnceReader interface {
	ReadOnce(ctx context.Context, out collectors.Emitter) error
}

// DryRun runs the collectors without connecting anywhere or needing any
// certificate, and writes every record they emit to Out as one JSON object
// per line (see JSONRecord), until ctx ends; with Once, until the sources
// that end have been read to their end.
func DryRun(ctx context.Context, cfg DryRunConfig) error {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p := &Printer{w: cfg.Out, onFail: cancel} // a closed stdout ends the dry run
	if cfg.Once {
		return dryRunOnce(ctx, cfg.Collectors, p)
	}
	sv := supervisor{log: cfg.Logger, rand: mrand.Int64N, now: cfg.Now}
	var wg sync.WaitGroup
	for _, c := range cfg.Collectors {
		wg.Go(func() { sv.supervise(ctx, c, p) })
	}
	wg.Wait()
	return p.err()
}

// dryRunOnce reads each OnceReader among cs to its end, in order.
func dryRunOnce(ctx context.Context, cs []collectors.Collector, p *Printer) error {
	n := 0
	for _, c := range cs {
		r, ok := c.(OnceReader)
		if !ok {
			continue
		}
		n++
		if err := r.ReadOnce(ctx, p); err != nil {
			return err
		}
		if err := p.err(); err != nil {
			return err
		}
	}
	if n == 0 {
		return errors.New("nothing to read to its end: a dry run once reads files (tail)")
	}
	return p.err()
}

// Printer is an Emitter that writes each record as a line of JSON. It never
// waits and never drops.
type Printer struct {
	w      io.Writer
	onFail func() // called at the first write error

	mu     sync.Mutex
	failed error
}

// NewPrinter returns a Printer writing to w.
func NewPrinter(w io.Writer) *Printer { return &Printer{w: w} }

// JSONRecord is the dry-run form of a record. Body is set when the body is
// valid UTF-8, BodyBase64 otherwise.
type JSONRecord struct {
	Time       string            `json:"time"` // RFC 3339 with nanoseconds
	Kind       string            `json:"kind"`
	Source     string            `json:"source"`
	Body       *string           `json:"body,omitempty"`
	BodyBase64 string            `json:"body_base64,omitempty"`
	Flags      []string          `json:"flags,omitempty"` // partial, no_newline
	Attrs      map[string]string `json:"attrs,omitempty"`
	File       *JSONFileRange    `json:"file,omitempty"`
}

// JSONFileRange is a record's file and byte range [start, end).
type JSONFileRange struct {
	Dev            uint64 `json:"dev"`
	Inode          uint64 `json:"inode"`
	FingerprintLen uint32 `json:"fingerprint_len"`
	Fingerprint    string `json:"fingerprint"` // hex
	Start          int64  `json:"start"`
	End            int64  `json:"end"`
}

// ToJSON converts r to its dry-run form.
func ToJSON(r *collectors.Record) JSONRecord {
	j := JSONRecord{Time: r.Time.Format(time.RFC3339Nano), Kind: r.Kind.String(), Source: r.Source}
	if utf8.Valid(r.Body) {
		s := string(r.Body)
		j.Body = &s
	} else {
		j.BodyBase64 = base64.StdEncoding.EncodeToString(r.Body)
	}
	if r.Flags&collectors.FlagPartial != 0 {
		j.Flags = append(j.Flags, "partial")
	}
	if r.Flags&collectors.FlagNoNewline != 0 {
		j.Flags = append(j.Flags, "no_newline")
	}
	if len(r.Attrs) > 0 {
		j.Attrs = make(map[string]string, len(r.Attrs))
		for _, a := range r.Attrs {
			j.Attrs[a.Key] = a.Value
		}
	}
	if f := r.File; f != nil {
		j.File = &JSONFileRange{Dev: f.ID.Dev, Inode: f.ID.Inode, FingerprintLen: f.ID.FPLen,
			Fingerprint: hex.EncodeToString(f.ID.FP[:]), Start: f.Start, End: f.End}
	}
	return j
}

// Emit writes r.
func (p *Printer) Emit(_ context.Context, r collectors.Record) error {
	p.TryEmit(r)
	return nil
}

// TryEmit writes r and reports true. After a write error it writes nothing
// more; DryRun returns the error.
func (p *Printer) TryEmit(r collectors.Record) bool {
	b, err := json.Marshal(ToJSON(&r))
	if err != nil {
		return true // cannot happen: every field is a string or a number
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failed != nil {
		return true
	}
	if _, err := p.w.Write(append(b, '\n')); err != nil {
		p.failed = err
		if p.onFail != nil {
			p.onFail()
		}
	}
	return true
}

func (p *Printer) err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.failed
}
