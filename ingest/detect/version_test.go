package detect

import "testing"

// versionCases: compareVersions(a, b) == want; each is also checked reversed.
var versionCases = []struct {
	a, b string
	want int
}{
	{"1.2.3", "1.2.3", 0},
	{"1.2.3", "1.2.4", -1},
	{"1.10", "1.9", 1},
	{"1.2", "1.2.0.1", -1},
	{"v2.0", "2.0", 0},
	{"V2.1", "2.0", 1},
	{"23.05", "23.5", 0},
	{"99999999999999999999999.1", "99999999999999999999998.9", 1}, // beyond uint64
	// OpenWrt: release, then revision; the commit hash is ignored.
	{"23.05.3 r23809-234f1a2efa", "23.05.2 r23630-842932a63d", 1},
	{"23.05.3 r23809-234f1a2efa", "23.05.3 r23809-0000000abc", 0},
	{"23.05.3 r23809-234f1a2efa", "23.05.3 r23900-842932a63d", -1},
	{"22.03.5 r20134-5f15225c1e", "23.05.0 r23497-6637af95aa", -1},
	{"23.05.3", "23.05.3 r23809-234f1a2efa", -1},
	{"SNAPSHOT r25000-abcdef1234", "SNAPSHOT r24999-abcdef1234", 1},
	// SONiC: branch (yyyymm), then build.
	{"SONiC.202311.540346-fbd3e6b2e", "SONiC.202305.600000-0a1b2c3d4", 1},
	{"SONiC.202311.540346-fbd3e6b2e", "SONiC.202311.540347-fbd3e6b2e", -1},
	{"SONiC.202311.540346-fbd3e6b2e", "SONiC.202311.540346-1234567ab", 0},
	// RFC 3339 (Raspberry Pi bootloader build time), zones honoured.
	{"2024-04-17T17:27:09Z", "2023-12-01T00:00:00Z", 1},
	{"2024-04-17T19:27:09+02:00", "2024-04-17T17:27:09Z", 0},
	{"2024-04-17T17:27:09.5Z", "2024-04-17T17:27:09Z", 1},
	// Pre-releases come before the release, patch letters after.
	{"1.2.0-rc1", "1.2.0", -1},
	{"1.2.0-rc2", "1.2.0-rc10", -1},
	{"1.2.0-beta3", "1.2.0-rc1", -1},
	{"1.2.0-alpha", "1.2.0-beta", -1},
	{"2.0~rc1", "2.0", -1},
	{"1.0.2a", "1.0.2", 1},
	{"1.0.2a", "1.0.2b", -1},
	{"1.2.0", "1.2.0.post1", -1},
	// git describe: version, commits since, hash.
	{"1.4.2-3-g1a2b3c4d", "1.4.2-12-gffffffff", -1},
	// Others the collectors report.
	{"debian 12", "debian 11", 1},
	{"5.4-rolling-202403010019", "5.4-rolling-202402010019", 1},
	{"1.4.0-epa2", "1.4.0-epa1", 1},
	{"", "", 0},
	{"", "1", -1},
	{"  ", "", 0},
}

func TestCompareVersions(t *testing.T) {
	t.Parallel()
	for _, c := range versionCases {
		if got := CompareVersions(c.a, c.b); got != c.want {
			t.Errorf("compareVersions(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
		if got := CompareVersions(c.b, c.a); got != -c.want {
			t.Errorf("compareVersions(%q, %q) = %d, want %d", c.b, c.a, got, -c.want)
		}
	}
}

func FuzzCompareVersions(f *testing.F) {
	for _, c := range versionCases {
		f.Add(c.a, c.b)
	}
	f.Add("1.0\xff2", "1.0~~x")
	f.Fuzz(func(t *testing.T, a, b string) {
		ab, ba := CompareVersions(a, b), CompareVersions(b, a)
		if ab != -ba {
			t.Fatalf("compare(%q, %q) = %d but compare(b, a) = %d", a, b, ab, ba)
		}
		if ab < -1 || ab > 1 {
			t.Fatalf("compare(%q, %q) = %d, want -1, 0 or 1", a, b, ab)
		}
		if CompareVersions(a, a) != 0 {
			t.Fatalf("compare(%q, itself) != 0", a)
		}
	})
}
