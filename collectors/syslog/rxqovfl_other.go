//go:build !linux

package syslog

import (
	"errors"
	"syscall"
)

var dropOOBSize = 0

func enableKernelDrops(syscall.Conn) error { return errors.ErrUnsupported }

func kernelDrops([]byte) (uint32, bool) { return 0, false }
