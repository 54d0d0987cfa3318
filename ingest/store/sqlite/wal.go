package sqlite

import "fmt"

// The write-ahead log's bound. SQLite checkpoints the WAL into the database
// once it holds wal_autocheckpoint pages (default 1000), and cuts the file
// back to journal_size_limit when it starts over. With 64 KiB pages the
// default is 64 MiB: a collector's WAL sat at about 65 MB beside a
// database of a few MiB. Counted in bytes instead, the WAL is checkpointed
// every walCheckpointBytes and the file kept to walMaxBytes; it grows past
// that only while one commit group larger than the bound is written
// (Options.MaxGroupBytes), or while a query holds one read snapshot open
// across commits (the checkpoint cannot pass what a reader still sees),
// and it is cut back at the next restart of the log after either.
const (
	walCheckpointBytes = 4 << 20
	walMaxBytes        = 8 << 20
	pageBytes          = 65536 // page_size of a new database (Open)
)

// walPragmas are the DSN parameters that bound the WAL, for every
// connection that writes.
var walPragmas = []string{
	fmt.Sprintf("_pragma=wal_autocheckpoint(%d)", walCheckpointBytes/pageBytes),
	fmt.Sprintf("_pragma=journal_size_limit(%d)", walMaxBytes),
}
