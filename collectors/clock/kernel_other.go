//go:build !linux

package clock

func readKernel() Kernel {
	return Kernel{State: "unknown", Error: "adjtimex: not on linux"}
}
