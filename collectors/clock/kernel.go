package clock

// Kernel is the kernel's own view of its clock discipline, read with
// adjtimex in read-only mode (modes 0). Whatever disciplines the clock
// (chronyd, ntpd, systemd-timesyncd) keeps these fields current; a kernel
// that nobody disciplines reports unsynchronised with a growing max error.
type Kernel struct {
	Synced     bool    `json:"synced"`              // neither STA_UNSYNC nor TIME_ERROR
	State      string  `json:"state"`               // adjtimex return: ok, ins, del, oop, wait, error
	Status     int64   `json:"status"`              // STA_* bits
	MaxErrorUS int64   `json:"max_error_us"`        // kernel's maximum error, µs
	EstErrorUS int64   `json:"est_error_us"`        // kernel's estimated error, µs
	OffsetNS   int64   `json:"offset_ns,omitempty"` // remaining PLL offset
	FreqPPM    float64 `json:"freq_ppm,omitempty"`  // frequency correction
	Error      string  `json:"error,omitempty"`     // adjtimex failed: nothing else is known
}

// Linux timex constants (include/uapi/linux/timex.h), spelled here so that
// the pure decoding builds and tests on any platform.
const (
	staUnsync = 0x0040
	staNano   = 0x2000
	timeError = 5
)

var kernelStates = [...]string{"ok", "ins", "del", "oop", "wait", "error"}

// kernelFromTimex decodes adjtimex's return value and fields.
func kernelFromTimex(state int, status, maxErr, estErr, offset, freq int64) Kernel {
	k := Kernel{
		Status:     status,
		MaxErrorUS: maxErr,
		EstErrorUS: estErr,
		OffsetNS:   offset,
		FreqPPM:    float64(freq) / 65536, // scaled ppm: 16 fractional bits
	}
	if status&staNano == 0 {
		k.OffsetNS = offset * 1000 // µs without STA_NANO
	}
	if state >= 0 && state < len(kernelStates) {
		k.State = kernelStates[state]
	} else {
		k.State = "unknown"
	}
	k.Synced = status&staUnsync == 0 && state != timeError
	return k
}
