package syslog

import (
	"encoding/binary"
	"syscall"

	"golang.org/x/sys/unix"
)

// dropOOBSize is the control buffer a datagram read needs for the kernel's
// drop counter (room for one more message, in case).
var dropOOBSize = 2 * unix.CmsgSpace(4)

// enableKernelDrops asks the kernel to attach to each received datagram the
// socket's cumulative count of datagrams it dropped (SO_RXQ_OVFL), so that a
// full receive buffer is not a silent loss.
func enableKernelDrops(c syscall.Conn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RXQ_OVFL, 1)
	}); err != nil {
		return err
	}
	return serr
}

// kernelDrops returns the drop counter carried by a datagram's control
// messages; ok is false if there is none (the kernel sends none while the
// count is 0).
func kernelDrops(oob []byte) (n uint32, ok bool) {
	if len(oob) == 0 {
		return 0, false
	}
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0, false
	}
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SO_RXQ_OVFL && len(m.Data) >= 4 {
			n, ok = binary.NativeEndian.Uint32(m.Data), true
		}
	}
	return n, ok
}
