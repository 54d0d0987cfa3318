//go:build linux

package clock

import "golang.org/x/sys/unix"

// readKernel calls adjtimex with Modes 0: it reads and never adjusts.
func readKernel() Kernel {
	var tx unix.Timex // Modes 0: read only; no privilege needed
	state, err := unix.Adjtimex(&tx)
	if err != nil {
		return Kernel{State: "unknown", Error: "adjtimex: " + err.Error()}
	}
	return kernelFromTimex(state, int64(tx.Status), int64(tx.Maxerror), int64(tx.Esterror),
		int64(tx.Offset), int64(tx.Freq))
}
