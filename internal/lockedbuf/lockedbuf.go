// Package lockedbuf is a bytes.Buffer safe for concurrent use, for
// collecting a child process's or a logger's output in tests while it runs.
package lockedbuf

import (
	"bytes"
	"sync"
)

// Buffer is written by one goroutine (a process, a logger) and read by
// another. The zero value is ready to use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
