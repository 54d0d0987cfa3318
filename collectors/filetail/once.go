package filetail

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/offbox/offbox/collectors"
)

// ReadOnce reads every file the paths match now, one after the other, from
// where StartAt says to its current end, emitting the same records as Run
// (an unfinished last line too, flagged no_newline), and returns: it
// follows no rotation and waits for nothing. It is for a dry run that ends
// (offbox run -dry-run -once). A pattern that matches no file, or a file
// that cannot be opened, is an error.
func (t *Tailer) ReadOnce(ctx context.Context, out collectors.Emitter) error {
	seen := map[string]bool{}
	for _, pat := range t.patterns {
		matches, _ := filepath.Glob(pat) // the only error is a bad pattern, refused by New
		found := 0
		for _, m := range matches {
			if hasMeta(pat) {
				if fi, err := os.Stat(m); err == nil && fi.IsDir() {
					continue // a glob that matches a directory is not about it
				}
			}
			found++
			if seen[m] {
				continue
			}
			seen[m] = true
			if err := t.readFileOnce(ctx, out, m); err != nil {
				return err
			}
		}
		if found == 0 {
			return fmt.Errorf("filetail: %s matches no file", pat)
		}
	}
	return nil
}

func (t *Tailer) readFileOnce(ctx context.Context, out collectors.Emitter, path string) error {
	fl := newFollower(t, out, path, t.startAtEnd)
	defer fl.close()
	f, st, err := openRegular(path)
	if err != nil {
		return fmt.Errorf("filetail: %w", err)
	}
	fl.setCurrent(f, st)
	if fl.startAtEnd {
		if err := fl.seekCurrent(st.size); err != nil {
			return fmt.Errorf("filetail: %s: %w", path, err)
		}
	}
	return fl.drain(ctx)
}
