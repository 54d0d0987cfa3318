package syslog

import (
	"bufio"
	"bytes"
	"strings"
)

func newReader(s string) *bufio.Reader { return bufio.NewReaderSize(strings.NewReader(s), 16) }

func bufio16(b []byte) *bufio.Reader { return bufio.NewReaderSize(bytes.NewReader(b), 16) }
