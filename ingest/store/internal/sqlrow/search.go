package sqlrow

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/offbox/offbox/ingest/store"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
)

// SearchSQL is an engine's statements for store.SearchStore.
type SearchSQL struct {
	// Segments builds the select of received_ns, device_id, batch_seq,
	// first_index, count of segments s, around a WHERE clause, ordered
	// (order: "DESC" or "ASC") by received_ns, device_id, batch_seq, then
	// first_index ascending, and a LIMIT clause. The rows are sorted
	// without an index: they are kept narrow.
	Segments func(where, order, limit string) string
	Devices  string // id, name of every device
	// Filters selects device_id, batch_seq, received_ns, bits of the
	// filters around a WHERE clause (on received_ns and device_id).
	Filters func(where string) string
	Cursor  string // batch_row of the search cursor
	// SaveFilter upserts (device name, batch_seq, received_ns, bits);
	// SetCursor sets the cursor's batch_row.
	SaveFilter, SetCursor string
	// KeysAfter selects row, device name, seq, received_ns of the batches
	// after a row ($1), in row order, at most $2.
	KeysAfter string
}

// SearchCore implements store.SearchStore on an engine's statements.
type SearchCore[T any] struct {
	c   *Core[T]
	sql *SearchSQL
}

// Search is c's SearchCore with the engine's search statements.
func (c *Core[T]) Search(sql *SearchSQL) SearchCore[T] { return SearchCore[T]{c, sql} }

// SearchBatches implements store.SearchStore. It reads segment rows,
// several per batch, and keeps only whole batches: when a page of rows
// ends inside a batch, that batch is left to the next call (or the page
// is read again, larger, when it holds only that one batch).
func (s SearchCore[T]) SearchBatches(ctx context.Context, q store.SearchQuery) ([]store.SearchBatch, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	rows := limit * 4
	for {
		out, complete, err := s.searchPage(ctx, &q, rows)
		if err != nil {
			return nil, err
		}
		if complete || len(out) > 1 {
			if !complete {
				out = out[:len(out)-1]
			}
			if len(out) > limit {
				out = out[:limit]
			}
			return out, nil
		}
		rows *= 4
	}
}

// searchPage reads at most n segment rows; complete is false when there
// were n, so the last batch may lack some.
func (s SearchCore[T]) searchPage(ctx context.Context, q *store.SearchQuery, n int) (out []store.SearchBatch, complete bool, err error) {
	var f Filter
	names, err := Map[int64, string](ctx, s.c.e.Read, "devices", s.sql.Devices)
	if err != nil {
		return nil, false, err
	}
	if len(q.DeviceNames) > 0 {
		var ids []any
		for id, name := range names {
			if slices.Contains(q.DeviceNames, name) {
				ids = append(ids, id)
			}
		}
		if len(ids) == 0 {
			return nil, true, nil
		}
		f.Conds = append(f.Conds, "s.device_id IN (?"+strings.Repeat(", ?", len(ids)-1)+")")
		f.Args = append(f.Args, ids...)
	}
	f.Add(q.Source != "", "s.source = ?", q.Source)
	f.Add(q.Kind != offboxv1.Kind_KIND_UNSPECIFIED, "s.kind = ?", int64(q.Kind))
	f.Add(!q.Since.IsZero(), "s.max_time_ns >= ?", q.Since.UnixNano())
	f.Add(!q.Until.IsZero(), "s.min_time_ns < ?", q.Until.UnixNano())
	order, cmp := "DESC", "<"
	if q.Asc {
		order, cmp = "ASC", ">"
	}
	if a := q.After; a != nil {
		// Row values: (a, b, c) < (x, y, z), in both engines.
		f.Conds = append(f.Conds, "(s.received_ns, s.device_id, s.batch_seq) "+cmp+" (?, ?, ?)")
		f.Args = append(f.Args, a.ReceivedNs, a.DeviceID, int64(a.Seq))
	}
	p := s.c.e.SQL.Placeholders
	where := f.Where(p)
	query := s.sql.Segments(where, order, f.Limit(n, p))
	rs, err := s.c.e.Read.Query(ctx, query, f.Args...)
	if err != nil {
		return nil, false, fmt.Errorf("store: search: %w", err)
	}
	defer rs.Close()
	count := 0
	for rs.Next() {
		count++
		var recv, dev, seq, first, cnt int64
		if err := rs.Scan(&recv, &dev, &seq, &first, &cnt); err != nil {
			return nil, false, fmt.Errorf("store: search: %w", err)
		}
		if k := len(out) - 1; k < 0 || out[k].DeviceID != dev || out[k].Seq != uint64(seq) || out[k].ReceivedNs != recv {
			out = append(out, store.SearchBatch{SearchPos: store.SearchPos{ReceivedNs: recv, DeviceID: dev, Seq: uint64(seq)},
				Device: names[dev]})
		}
		b := &out[len(out)-1]
		b.Segments = append(b.Segments, store.SearchSegment{First: int(first), Count: int(cnt)})
	}
	if err := rs.Err(); err != nil {
		return nil, false, fmt.Errorf("store: search: %w", err)
	}
	for i := range out {
		if out[i].Device == "" { // a device first stored after the names were read
			if names, err = Map[int64, string](ctx, s.c.e.Read, "devices", s.sql.Devices); err != nil {
				return nil, false, err
			}
			for j := range out {
				out[j].Device = names[out[j].DeviceID]
			}
			break
		}
	}
	return out, count < n, nil
}

// filterChunk is how many batches' filters one statement reads.
const filterChunk = 256

// maxFilterDevices: a chunk of batches of at most this many devices reads
// only their filters; one of more reads every filter in its time range.
const maxFilterDevices = 16

// LoadSearchFilters implements store.SearchStore. The filters of a chunk
// of batches are read as one range of the filter table's key (received
// time first: the order a search goes in), so they are read in order, by a
// statement the driver can keep. A filter stored for another batch of the
// same (device, seq) (received at another time) is not this batch's.
func (s SearchCore[T]) LoadSearchFilters(ctx context.Context, bs []store.SearchBatch) error {
	type key struct{ recv, dev, seq int64 }
	at := make(map[key]int, min(len(bs), filterChunk))
	p := s.c.e.SQL.Placeholders
	for start := 0; start < len(bs); start += filterChunk {
		chunk := bs[start:min(len(bs), start+filterChunk)]
		clear(at)
		lo, hi := chunk[0].ReceivedNs, chunk[0].ReceivedNs
		var devs []any
		for i, b := range chunk {
			at[key{b.ReceivedNs, b.DeviceID, int64(b.Seq)}] = i
			lo, hi = min(lo, b.ReceivedNs), max(hi, b.ReceivedNs)
			if !slices.Contains(devs, any(b.DeviceID)) {
				devs = append(devs, b.DeviceID)
			}
		}
		var f Filter
		f.Add(true, "received_ns >= ?", lo)
		f.Add(true, "received_ns <= ?", hi)
		if len(devs) <= maxFilterDevices {
			f.Conds = append(f.Conds, "device_id IN (?"+strings.Repeat(", ?", len(devs)-1)+")")
			f.Args = append(f.Args, devs...)
		}
		rs, err := s.c.e.Read.Query(ctx, s.sql.Filters(f.Where(p)), f.Args...)
		if err != nil {
			return fmt.Errorf("store: search filters: %w", err)
		}
		for rs.Next() {
			var dev, seq, recv int64
			var bits []byte
			if err := rs.Scan(&dev, &seq, &recv, &bits); err != nil {
				rs.Close()
				return fmt.Errorf("store: search filters: %w", err)
			}
			if i, ok := at[key{recv, dev, seq}]; ok {
				chunk[i].Filter = bits
			}
		}
		if err := closeRows(rs); err != nil {
			return fmt.Errorf("store: search filters: %w", err)
		}
	}
	return nil
}

// SearchBatchBytes implements store.SearchStore.
func (s SearchCore[T]) SearchBatchBytes(ctx context.Context, b *store.SearchBatch) ([]byte, error) {
	raw, err := s.c.e.ReadBatch(ctx, b.DeviceID, int64(b.Seq), b.ReceivedNs)
	if err != nil {
		return nil, fmt.Errorf("store: batch %d of %s: %w", b.Seq, b.Device, err)
	}
	return raw, nil
}

// SearchCursor implements store.SearchStore.
func (s SearchCore[T]) SearchCursor(ctx context.Context) (int64, error) {
	var row int64
	if err := s.c.e.Read.QueryRow(ctx, s.sql.Cursor).Scan(&row); err != nil {
		return 0, fmt.Errorf("store: search cursor: %w", err)
	}
	return row, nil
}

// SearchKeysAfter implements store.SearchStore.
func (s SearchCore[T]) SearchKeysAfter(ctx context.Context, after int64, limit int) ([]store.BatchKey, error) {
	return All(ctx, s.c.e.Read, fmt.Sprint("batches after ", after), func(r Scanner) (store.BatchKey, error) {
		var k store.BatchKey
		var ns int64
		err := r.Scan(&k.Row, &k.Device, &k.Seq, &ns)
		k.Received = time.Unix(0, ns)
		return k, err
	}, s.sql.KeysAfter, after, Limit(limit))
}

// SaveSearchFilters implements store.SearchStore.
func (s SearchCore[T]) SaveSearchFilters(ctx context.Context, filters []store.SearchFilter, upTo int64) error {
	size := 0
	for _, f := range filters {
		size += len(f.Filter)
	}
	err := s.c.do(ctx, size, func(ctx context.Context, t T) error {
		tx := s.c.e.Tx(t)
		for _, f := range filters {
			if _, err := tx.Exec(ctx, s.sql.SaveFilter, f.Device, int64(f.Seq), f.ReceivedNs, NotNull(f.Filter)); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, s.sql.SetCursor, upTo)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: search filters: %w", err)
	}
	return nil
}
