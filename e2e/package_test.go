package e2e

// Packages (issue 6): the .deb and .rpm that make packages builds with
// nfpm, checked with Debian's own tools (dpkg-deb, lintian, rpm,
// systemd-analyze, systemd-sysusers); the OpenWrt .ipk with its procd init
// script; the AMI recipe and its first-boot enrollment unit.

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// pkgVersion is what make packages gets as VERSION, and pkgFileVersion
// what scripts/packages.sh makes of it for dpkg and rpm.
const (
	pkgVersion     = "v0.0.0-e2e"
	pkgFileVersion = "0.0.0+e2e"
)

// makeDist runs a make target of the repository with its output in a
// fresh directory, as a user would (make packages, make openwrt): the cross
// builds, nfpm at its pinned version, the packaging scripts.
func makeDist(t *testing.T, target string) string {
	t.Helper()
	makeBin := needTool(t, "make", "make")
	dist := t.TempDir()
	cmd := exec.Command(makeBin, "-C", "..", target, "DIST="+dist, "VERSION="+pkgVersion)
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make %s: %v\n%s", target, err, tail(string(b), 40))
	}
	return dist
}

// pkgEntry is a file a package must hold: its mode as ls shows it and its
// owner/group ("" when only the mode matters).
type pkgEntry struct {
	mode, owner string
	debOnly     bool // not in the .rpm (Debian changelog, lintian overrides)
	config      bool // config|noreplace
}

func agentFiles() map[string]pkgEntry {
	return map[string]pkgEntry{
		"/usr/bin/offbox":                               {mode: "-rwxr-xr-x", owner: "root/root"},
		"/usr/lib/systemd/system/offbox.service":        {mode: "-rw-r--r--", owner: "root/root"},
		"/usr/lib/systemd/system/offbox-enroll.service": {mode: "-rw-r--r--", owner: "root/root"},
		"/usr/lib/sysusers.d/offbox.conf":               {mode: "-rw-r--r--", owner: "root/root"},
		"/etc/offbox":                                   {mode: "drwxr-x---", owner: "root/offbox"},
		"/etc/offbox/offbox.yaml":                       {mode: "-rw-r-----", owner: "root/offbox", config: true},
		"/var/lib/offbox":                               {mode: "drwx------", owner: "offbox/offbox"},
		"/usr/share/doc/offbox/copyright":               {mode: "-rw-r--r--", owner: "root/root"},
		"/usr/share/doc/offbox/changelog.Debian.gz":     {mode: "-rw-r--r--", debOnly: true},
		"/usr/share/lintian/overrides/offbox":           {mode: "-rw-r--r--", owner: "root/root", debOnly: true},
	}
}

func ingestFiles() map[string]pkgEntry {
	return map[string]pkgEntry{
		"/usr/bin/offbox-ingest":                           {mode: "-rwxr-xr-x", owner: "root/root"},
		"/usr/lib/systemd/system/offbox-ingest.service":    {mode: "-rw-r--r--", owner: "root/root"},
		"/usr/lib/sysusers.d/offbox-ingest.conf":           {mode: "-rw-r--r--", owner: "root/root"},
		"/etc/offbox-ingest":                               {mode: "drwxr-x---", owner: "root/offbox-ingest"},
		"/etc/offbox-ingest/offbox-ingest.yaml":            {mode: "-rw-r-----", owner: "root/offbox-ingest", config: true},
		"/var/lib/offbox-ingest":                           {mode: "drwx------", owner: "offbox-ingest/offbox-ingest"},
		"/usr/share/doc/offbox-ingest/copyright":           {mode: "-rw-r--r--", owner: "root/root"},
		"/usr/share/doc/offbox-ingest/changelog.Debian.gz": {mode: "-rw-r--r--", debOnly: true},
		"/usr/share/lintian/overrides/offbox-ingest":       {mode: "-rw-r--r--", owner: "root/root", debOnly: true},
	}
}

// checkListing compares a package's listing (path -> mode, owner/group)
// with want: every wanted file present with its mode and owner, and no
// file (directories aside) that is not wanted.
func checkListing(t *testing.T, pkg string, got map[string][2]string, want map[string]pkgEntry, rpm bool) {
	t.Helper()
	for path, w := range want {
		if rpm && w.debOnly {
			continue
		}
		g, ok := got[path]
		if !ok {
			t.Errorf("%s: no %s", pkg, path)
			continue
		}
		if g[0] != w.mode || (w.owner != "" && g[1] != w.owner) {
			t.Errorf("%s: %s is %s %s, want %s %s", pkg, path, g[0], g[1], w.mode, w.owner)
		}
	}
	for path, g := range got {
		if _, ok := want[path]; !ok && !strings.HasPrefix(g[0], "d") {
			t.Errorf("%s: unexpected file %s (%s %s)", pkg, path, g[0], g[1])
		}
	}
}

// debListing parses dpkg-deb --contents.
func debListing(t *testing.T, deb string) map[string][2]string {
	t.Helper()
	so, se, code := run(t, "dpkg-deb", "--contents", deb)
	if code != 0 {
		t.Fatalf("dpkg-deb --contents %s: exit %d: %s", deb, code, se)
	}
	got := map[string][2]string{}
	for _, line := range strings.Split(strings.TrimSpace(so), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 {
			t.Fatalf("dpkg-deb --contents: odd line %q", line)
		}
		path := strings.TrimSuffix(strings.TrimPrefix(f[5], "."), "/")
		got[path] = [2]string{f[0], f[1]}
	}
	return got
}

// elfMachine reads the machine and byte order of a binary.
func elfMachine(t *testing.T, r io.ReaderAt) (elf.Machine, elf.Data) {
	t.Helper()
	f, err := elf.NewFile(r)
	if err != nil {
		t.Fatalf("not an ELF binary: %v", err)
	}
	return f.Machine, f.Data
}

var elfFor = map[string]struct {
	m elf.Machine
	d elf.Data
}{
	"amd64":  {elf.EM_X86_64, elf.ELFDATA2LSB},
	"arm64":  {elf.EM_AARCH64, elf.ELFDATA2LSB},
	"armv7":  {elf.EM_ARM, elf.ELFDATA2LSB},
	"mips":   {elf.EM_MIPS, elf.ELFDATA2MSB},
	"mipsle": {elf.EM_MIPS, elf.ELFDATA2LSB},
}

// TestPackagesIntegration builds the .deb and .rpm of both programs for
// amd64 and arm64 with make packages and checks them the way a
// distribution would: lintian finds no error, the files and their modes
// and owners are the intended ones, the config is a conffile kept on
// upgrade, the binary is of the package's architecture, the users come out
// of sysusers as intended, the post-install enables without starting, and
// the installed units pass systemd-analyze verify.
func TestPackagesIntegration(t *testing.T) {
	skipShort(t)
	needTool(t, "dpkg-deb", "dpkg")
	lintian := needTool(t, "lintian", "lintian")
	sa := needTool(t, "systemd-analyze", "systemd")
	sysusers := needTool(t, "systemd-sysusers", "systemd")
	dist := makeDist(t, "packages")

	progs := map[string]func() map[string]pkgEntry{"offbox": agentFiles, "offbox-ingest": ingestFiles}
	debs := map[string]string{} // prog/arch -> path
	for _, arch := range []string{"amd64", "arm64"} {
		for prog, files := range progs {
			deb := filepath.Join(dist, fmt.Sprintf("%s_%s-1_%s.deb", prog, pkgFileVersion, arch))
			debs[prog+"/"+arch] = deb
			t.Run("deb/"+prog+"/"+arch, func(t *testing.T) {
				checkListing(t, filepath.Base(deb), debListing(t, deb), files(), false)

				so, _, _ := run(t, "dpkg-deb", "--field", deb, "Package", "Version", "Architecture")
				wantCtl := fmt.Sprintf("Package: %s\nVersion: %s-1\nArchitecture: %s", prog, pkgFileVersion, arch)
				if strings.TrimSpace(so) != wantCtl {
					t.Errorf("control fields:\n%s\nwant\n%s", so, wantCtl)
				}
				ctl := t.TempDir()
				if _, se, code := run(t, "dpkg-deb", "--control", deb, ctl); code != 0 {
					t.Fatalf("dpkg-deb --control: %s", se)
				}
				var conf []string
				for path, e := range files() {
					if e.config {
						conf = append(conf, path)
					}
				}
				slices.Sort(conf)
				if b, _ := os.ReadFile(filepath.Join(ctl, "conffiles")); strings.Fields(string(b)) == nil || !slices.Equal(strings.Fields(string(b)), conf) {
					t.Errorf("conffiles %q, want %q", b, conf)
				}
				for _, s := range []string{"preinst", "postinst", "prerm", "postrm"} {
					if fi, err := os.Stat(filepath.Join(ctl, s)); err != nil || fi.Mode().Perm()&0o100 == 0 {
						t.Errorf("maintainer script %s missing or not executable (%v)", s, err)
					}
				}

				root := t.TempDir()
				if _, se, code := run(t, "dpkg-deb", "--extract", deb, root); code != 0 {
					t.Fatalf("dpkg-deb --extract: %s", se)
				}
				f, err := os.Open(filepath.Join(root, "usr/bin", prog))
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				if m, d := elfMachine(t, f); m != elfFor[arch].m || d != elfFor[arch].d {
					t.Errorf("/usr/bin/%s is %v %v, want %v %v", prog, m, d, elfFor[arch].m, elfFor[arch].d)
				}

				// Lintian's errors fail; its warnings are listed in the log.
				so, se, code := run(t, lintian, "--no-cfg", deb)
				var errs, warns []string
				for _, line := range strings.Split(so, "\n") {
					switch {
					case strings.HasPrefix(line, "E: "):
						errs = append(errs, line)
					case strings.HasPrefix(line, "W: "):
						warns = append(warns, line)
					}
				}
				t.Logf("lintian %s: %d warnings\n%s", filepath.Base(deb), len(warns), strings.Join(warns, "\n"))
				if code != 0 || len(errs) > 0 {
					t.Errorf("lintian %s: exit %d, errors:\n%s\n%s", filepath.Base(deb), code, strings.Join(errs, "\n"), se)
				}
			})
		}
	}

	t.Run("rpm", func(t *testing.T) {
		rpm := needTool(t, "rpm", "rpm")
		for _, arch := range []string{"amd64", "arm64"} {
			rpmArch := map[string]string{"amd64": "x86_64", "arm64": "aarch64"}[arch]
			for prog, files := range progs {
				pkg := filepath.Join(dist, fmt.Sprintf("%s-%s-1.%s.rpm", prog, pkgFileVersion, rpmArch))
				so, se, code := run(t, rpm, "-qp", "--queryformat",
					"%{NAME} %{VERSION}-%{RELEASE} %{ARCH}\n[%{FILEMODES:perms}|%{FILEUSERNAME}/%{FILEGROUPNAME}|%{FILEFLAGS:fflags}|%{FILENAMES}\n]", pkg)
				if code != 0 {
					t.Fatalf("rpm -qp %s: exit %d: %s", pkg, code, se)
				}
				lines := strings.Split(strings.TrimSpace(so), "\n")
				if want := fmt.Sprintf("%s %s-1 %s", prog, pkgFileVersion, rpmArch); lines[0] != want {
					t.Errorf("%s: %q, want %q", filepath.Base(pkg), lines[0], want)
				}
				got := map[string][2]string{}
				for _, l := range lines[1:] {
					f := strings.Split(l, "|")
					got[f[3]] = [2]string{f[0], f[1]}
					if w, ok := files()[f[3]]; ok && w.config != (f[2] == "cn") {
						t.Errorf("%s: %s has flags %q, want config noreplace (cn) %v", filepath.Base(pkg), f[3], f[2], w.config)
					}
				}
				checkListing(t, filepath.Base(pkg), got, files(), true)

				// rpm -qlp, as a user would list it.
				so, _, _ = run(t, rpm, "-qlp", pkg)
				if !strings.Contains(so, "/usr/bin/"+prog+"\n") {
					t.Errorf("rpm -qlp %s lacks /usr/bin/%s:\n%s", filepath.Base(pkg), prog, so)
				}
				so, _, _ = run(t, rpm, "-qp", "--scripts", pkg)
				for _, s := range []string{"preinstall scriptlet", "postinstall scriptlet", "preuninstall scriptlet", "postuninstall scriptlet"} {
					if !strings.Contains(so, s) {
						t.Errorf("%s: no %s", filepath.Base(pkg), s)
					}
				}
			}
		}
	})

	native := runtime.GOARCH
	if native != "amd64" && native != "arm64" {
		native = "amd64" // dpkg-deb and systemd-analyze do not run the binary
	}

	// The preinst creates the users from the same lines as the sysusers.d
	// file: run it against a scratch root through systemd-sysusers --root.
	t.Run("sysusers", func(t *testing.T) {
		for prog, member := range map[string]string{"offbox": "adm:x:", "offbox-ingest": ""} {
			deb := debs[prog+"/"+native]
			ctl, root, scratch := t.TempDir(), t.TempDir(), t.TempDir()
			run(t, "dpkg-deb", "--control", deb, ctl)
			run(t, "dpkg-deb", "--extract", deb, root)
			preinst, _ := os.ReadFile(filepath.Join(ctl, "preinst"))
			conf, _ := os.ReadFile(filepath.Join(root, "usr/lib/sysusers.d", prog+".conf"))
			m := regexp.MustCompile(`(?s)<<'SYSUSERS'\n(.*?)\nSYSUSERS\n`).FindSubmatch(preinst)
			var confLines []string
			for _, l := range strings.Split(string(conf), "\n") {
				if l != "" && !strings.HasPrefix(l, "#") {
					confLines = append(confLines, l)
				}
			}
			if m == nil || string(m[1]) != strings.Join(confLines, "\n") {
				t.Fatalf("%s: the preinst's sysusers lines differ from %s.conf:\npreinst: %q\nconf: %q", prog, prog, m, confLines)
			}

			stub := t.TempDir()
			os.MkdirAll(filepath.Join(scratch, "etc"), 0o755)
			script := fmt.Sprintf("#!/bin/sh\nexec %s --root=%s \"$@\"\n", sysusers, scratch)
			if err := os.WriteFile(filepath.Join(stub, "systemd-sysusers"), []byte(script), 0o755); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("sh", filepath.Join(ctl, "preinst"), "install")
			cmd.Env = append(os.Environ(), "PATH="+stub+":"+os.Getenv("PATH"))
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s preinst: %v\n%s", prog, err, b)
			}
			passwd, _ := os.ReadFile(filepath.Join(scratch, "etc/passwd"))
			group, _ := os.ReadFile(filepath.Join(scratch, "etc/group"))
			if !regexp.MustCompile(`(?m)^` + prog + `:x:\d+:\d+:[^:]*:/var/lib/` + prog + `:/usr/sbin/nologin$`).Match(passwd) {
				t.Errorf("%s preinst: /etc/passwd lacks a system user %s:\n%s", prog, prog, passwd)
			}
			if member != "" && !regexp.MustCompile(`(?m)^`+member+`\d+:(.*,)?`+prog+`(,|$)`).Match(group) {
				t.Errorf("%s preinst: %s is not in group adm:\n%s", prog, prog, group)
			}
		}
	})

	// The post-install enables the units and, without credentials, starts
	// nothing and says what to do: run it with systemctl stubbed.
	t.Run("postinst", func(t *testing.T) {
		cases := []struct {
			prog, cred, enable, next string
		}{
			{"offbox", "/var/lib/offbox/device.pem", "enable offbox.service offbox-enroll.service", "systemctl start offbox-enroll"},
			{"offbox-ingest", "/etc/offbox-ingest/ingest.pem", "enable offbox-ingest.service", "systemctl start offbox-ingest"},
		}
		for _, c := range cases {
			if _, err := os.Stat(c.cred); err == nil {
				t.Logf("%s exists on this machine: the no-credential path cannot be tried here", c.cred)
				continue
			}
			ctl, stub := t.TempDir(), t.TempDir()
			run(t, "dpkg-deb", "--control", debs[c.prog+"/"+native], ctl)
			calls := filepath.Join(stub, "calls")
			if err := os.WriteFile(filepath.Join(stub, "systemctl"), []byte("#!/bin/sh\necho \"$*\" >>"+calls+"\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			for _, args := range [][]string{{"configure", ""}, {"1"}} { // deb, rpm
				os.Remove(calls)
				cmd := exec.Command("sh", append([]string{filepath.Join(ctl, "postinst")}, args...)...)
				cmd.Env = append(os.Environ(), "PATH="+stub+":"+os.Getenv("PATH"))
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("%s postinst %q: %v\n%s", c.prog, args, err, out)
				}
				b, _ := os.ReadFile(calls)
				got := strings.Split(strings.TrimSpace(string(b)), "\n")
				if !slices.Contains(got, c.enable) {
					t.Errorf("%s postinst %q: systemctl calls %q, want %q", c.prog, args, got, c.enable)
				}
				for _, call := range got {
					if strings.HasPrefix(call, "start") || strings.HasPrefix(call, "restart") || strings.HasPrefix(call, "try-restart") || strings.Contains(call, "--now") {
						t.Errorf("%s postinst %q started the service without credentials: systemctl %s", c.prog, args, call)
					}
				}
				if !strings.Contains(string(out), "not started") || !strings.Contains(string(out), c.next) {
					t.Errorf("%s postinst %q: output %q does not say what to do next (%q)", c.prog, args, out, c.next)
				}
			}
		}
	})

	// Installed into a scratch root with the host's units, the units load.
	t.Run("verify", func(t *testing.T) {
		hostUnits := "/usr/lib/systemd/system"
		if _, err := os.Stat(filepath.Join(hostUnits, "sysinit.target")); err != nil {
			hostUnits = "/lib/systemd/system"
		}
		for prog, units := range map[string][]string{
			"offbox":        {"offbox.service", "offbox-enroll.service"},
			"offbox-ingest": {"offbox-ingest.service"},
		} {
			root := t.TempDir()
			if _, se, code := run(t, "dpkg-deb", "--extract", debs[prog+"/"+native], root); code != 0 {
				t.Fatalf("dpkg-deb --extract: %s", se)
			}
			// The host's units beside the package's (not over them), and
			// /bin/rm for offbox-enroll.service's ExecStartPost.
			if b, err := exec.Command("cp", "-rn", hostUnits+"/.", filepath.Join(root, "usr/lib/systemd/system")).CombinedOutput(); err != nil {
				t.Fatalf("copy %s: %v: %s", hostUnits, err, b)
			}
			os.MkdirAll(filepath.Join(root, "bin"), 0o755)
			os.MkdirAll(filepath.Join(root, "etc/systemd/system"), 0o755)
			if b, err := exec.Command("cp", "-L", "/bin/rm", filepath.Join(root, "bin/rm")).CombinedOutput(); err != nil {
				t.Fatalf("cp /bin/rm: %v: %s", err, b)
			}
			args := append([]string{"verify", "--man=no", "--root=" + root}, units...)
			so, se, code := run(t, sa, args...)
			if code != 0 || strings.TrimSpace(so+se) != "" {
				t.Errorf("systemd-analyze verify %v in the installed %s: exit %d, want 0 and no complaints:\n%s%s", units, prog, code, so, se)
			}
		}

		// The first-boot unit is sandboxed like the agent.
		so, se, code := run(t, sa, "security", "--offline=yes", filepath.Join("..", "systemd", "offbox-enroll.service"))
		m := exposureRE.FindStringSubmatch(so)
		if code != 0 || m == nil {
			t.Fatalf("systemd-analyze security offbox-enroll.service: exit %d:\n%s%s", code, so, se)
		}
		got, _ := strconv.ParseFloat(m[2], 64)
		t.Logf("offbox-enroll.service: exposure %.1f (at most 2.0)", got)
		if got > 2.0 {
			t.Errorf("offbox-enroll.service: exposure %.1f, want at most 2.0:\n%s", got, so)
		}
	})
}

// tarFiles reads a gzipped tar into name -> (mode, content).
func tarFiles(t *testing.T, r io.Reader) ([]string, map[string]*tar.Header, map[string][]byte) {
	t.Helper()
	gz, err := gzip.NewReader(r)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	var names []string
	hdrs, data := map[string]*tar.Header{}, map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		hdrs[h.Name], data[h.Name] = h, b
	}
	return names, hdrs, data
}

// checkConfigWith runs offbox check-config on a sample config whose CA,
// device certificate and key (in /etc/offbox or /var/lib/offbox) are
// pointed at test ones, with a stand-in for logread.
func checkConfigWith(t *testing.T, sample []byte) {
	t.Helper()
	p := newPKI(t, "sample")
	dir := t.TempDir()
	var pairs []string
	for _, d := range []string{"/etc/offbox", "/var/lib/offbox"} {
		pairs = append(pairs, d+"/ca.pem", p.ca(), d+"/device.pem", p.cert("sample"), d+"/device-key.pem", p.key("sample"))
	}
	r := strings.NewReplacer(pairs...)
	conf := filepath.Join(dir, "offbox.yaml")
	if err := os.WriteFile(conf, []byte(r.Replace(string(sample))), 0o600); err != nil {
		t.Fatal(err)
	}
	stub := filepath.Join(dir, "bin")
	os.MkdirAll(stub, 0o755)
	if err := os.WriteFile(filepath.Join(stub, "logread"), []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin.agent, "check-config", "-config", conf)
	cmd.Env = append(os.Environ(), "PATH="+os.Getenv("PATH")+":"+stub)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "config OK") {
		t.Fatalf("offbox check-config: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}

// TestOpenWrtPackageIntegration builds the agent's .ipk for mips, mipsle
// and armv7 with make openwrt and checks what opkg reads: the outer
// tar.gz of debian-binary, control.tar.gz and data.tar.gz, the control
// fields and conffiles, the binary's architecture, the procd init script
// (it parses, and run with procd's functions stubbed it asks procd for the
// intended instance, or none without a certificate), and that the sample
// config passes offbox check-config.
func TestOpenWrtPackageIntegration(t *testing.T) {
	skipShort(t)
	dist := makeDist(t, "openwrt")
	for cross, arch := range map[string]string{"mips": "mips_24kc", "mipsle": "mipsel_24kc", "armv7": "arm_cortex-a7_neon-vfpv4"} {
		t.Run(cross, func(t *testing.T) {
			ipk := filepath.Join(dist, fmt.Sprintf("offbox_%s-1_%s.ipk", pkgFileVersion, arch))
			f, err := os.Open(ipk)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			names, _, outer := tarFiles(t, f)
			if want := []string{"./debian-binary", "./control.tar.gz", "./data.tar.gz"}; !slices.Equal(names, want) {
				t.Fatalf("%s holds %q, want %q", filepath.Base(ipk), names, want)
			}
			if got := string(outer["./debian-binary"]); got != "2.0\n" {
				t.Errorf("debian-binary %q, want \"2.0\\n\"", got)
			}
			_, _, ctl := tarFiles(t, bytes.NewReader(outer["./control.tar.gz"]))
			for _, want := range []string{"Package: offbox\n", "Architecture: " + arch + "\n", "Version: " + pkgFileVersion + "-1\n"} {
				if !strings.Contains(string(ctl["./control"]), want) {
					t.Errorf("control lacks %q:\n%s", want, ctl["./control"])
				}
			}
			if got := strings.TrimSpace(string(ctl["./conffiles"])); got != "/etc/offbox/offbox.yaml" {
				t.Errorf("conffiles %q, want /etc/offbox/offbox.yaml", got)
			}
			for _, s := range []string{"./postinst", "./prerm"} {
				if len(ctl[s]) == 0 {
					t.Errorf("no %s", s)
				}
			}
			_, hdrs, data := tarFiles(t, bytes.NewReader(outer["./data.tar.gz"]))
			for path, mode := range map[string]int64{"./usr/bin/offbox": 0o755, "./etc/init.d/offbox": 0o755, "./etc/offbox/offbox.yaml": 0o600, "./etc/offbox/": 0o700} {
				h, ok := hdrs[path]
				if !ok {
					t.Errorf("data.tar.gz lacks %s", path)
					continue
				}
				if h.Mode&0o7777 != mode {
					t.Errorf("%s: mode %o, want %o", path, h.Mode&0o7777, mode)
				}
			}
			if m, d := elfMachine(t, bytes.NewReader(data["./usr/bin/offbox"])); m != elfFor[cross].m || d != elfFor[cross].d {
				t.Errorf("/usr/bin/offbox is %v %v, want %v %v", m, d, elfFor[cross].m, elfFor[cross].d)
			}
		})
	}

	initScript := filepath.Join("..", "packaging", "openwrt", "offbox.init")
	t.Run("init", func(t *testing.T) {
		if _, se, code := run(t, "sh", "-n", initScript); code != 0 {
			t.Fatalf("sh -n %s: %s", initScript, se)
		}
		b, err := os.ReadFile(initScript)
		if err != nil {
			t.Fatal(err)
		}
		for _, re := range []string{`(?m)^#!/bin/sh /etc/rc.common$`, `(?m)^START=99$`, `(?m)^USE_PROCD=1$`} {
			if !regexp.MustCompile(re).Match(b) {
				t.Errorf("%s does not match %s", initScript, re)
			}
		}
		// rc.common's procd functions, stubbed to print what procd is asked.
		dir := t.TempDir()
		conf, cert := filepath.Join(dir, "offbox.yaml"), filepath.Join(dir, "device.pem")
		os.WriteFile(conf, []byte("server: x:1\n"), 0o600)
		harness := filepath.Join(dir, "harness.sh")
		os.WriteFile(harness, []byte(`procd_open_instance() { echo open; }
procd_set_param() { echo "param $*"; }
procd_close_instance() { echo close; }
logger() { echo "logger $*"; }
. "$1"
CONF=$2 CERT=$3
start_service
`), 0o644)
		so, se, code := run(t, "sh", harness, initScript, conf, cert)
		if code != 0 || strings.Contains(so, "open") || !strings.Contains(so, "offbox enroll") {
			t.Errorf("without a certificate: exit %d, stdout %q, stderr %q; want no instance and a hint to enroll", code, so, se)
		}
		os.WriteFile(cert, []byte("cert"), 0o600)
		so, se, code = run(t, "sh", harness, initScript, conf, cert)
		want := "open\nparam command /usr/bin/offbox run -config " + conf + "\nparam respawn 3600 5 0\nparam stdout 1\nparam stderr 1\nparam file " + conf + "\nclose\n"
		if code != 0 || so != want {
			t.Errorf("start_service: exit %d, stderr %q, asked procd for\n%s\nwant\n%s", code, se, so, want)
		}
	})

	t.Run("sample-config", func(t *testing.T) {
		b, err := os.ReadFile(filepath.Join("..", "packaging", "openwrt", "offbox.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var c struct {
			Budget  int64 `yaml:"memory_budget_bytes"`
			Logread struct {
				Enabled bool `yaml:"enabled"`
			} `yaml:"logread"`
		}
		if err := yaml.Unmarshal(b, &c); err != nil {
			t.Fatal(err)
		}
		if !c.Logread.Enabled || c.Budget <= 0 || c.Budget > 4<<20 {
			t.Errorf("OpenWrt sample: logread.enabled %v, memory_budget_bytes %d; want logread on and at most 4 MiB", c.Logread.Enabled, c.Budget)
		}
		checkConfigWith(t, b)
	})
}

// secretRE matches what must never be in a recipe or user-data template:
// private keys, certificates pasted in, AWS keys, a token that is not a
// placeholder.
var secretRE = regexp.MustCompile(`-----BEGIN|(?i)access_key|secret_key|aws_secret|AKIA[0-9A-Z]{16}|obe_[A-Za-z0-9]`)

// TestAMIRecipe checks the Packer template's structure (packer itself is
// not installed: balanced blocks, the Debian 12 source, the agent package
// installed and the first-boot unit enabled, no credential), the
// cloud-init user-data (it parses, writes what offbox-enroll.service
// reads, holds placeholders only, and its agent config passes check-config),
// and that the first-boot unit's own command line enrolls against a real
// collector and, run again, does nothing.
func TestAMIRecipe(t *testing.T) {
	skipShort(t)
	hcl, err := os.ReadFile(filepath.Join("..", "packaging", "ami", "offbox.pkr.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("packer", func(t *testing.T) {
		if err := hclBalanced(string(hcl)); err != nil {
			t.Errorf("offbox.pkr.hcl: %v", err)
		}
		for _, re := range []string{
			`(?m)^source "amazon-ebs" "debian12" \{$`,
			`name\s+= "debian-12-\$\{var\.arch\}-\*"`,
			`(?m)^build \{$`,
			`destination = "/tmp/offbox\.deb"`,
			`apt-get install [^"]*/tmp/offbox\.deb`,
			`systemctl enable offbox-enroll\.service`,
		} {
			if !regexp.MustCompile(re).Match(hcl) {
				t.Errorf("offbox.pkr.hcl does not match %s", re)
			}
		}
		if m := secretRE.Find(hcl); m != nil {
			t.Errorf("offbox.pkr.hcl holds what looks like a credential: %q", m)
		}
	})

	ci, err := os.ReadFile(filepath.Join("..", "packaging", "ami", "cloud-init.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var user struct {
		WriteFiles []struct {
			Path, Owner, Permissions, Content string
		} `yaml:"write_files"`
	}
	files := map[string]string{}
	t.Run("cloud-init", func(t *testing.T) {
		if !bytes.HasPrefix(ci, []byte("#cloud-config\n")) {
			t.Errorf("cloud-init.yaml does not start with #cloud-config")
		}
		if err := yaml.Unmarshal(ci, &user); err != nil {
			t.Fatalf("cloud-init.yaml: %v", err)
		}
		for _, f := range user.WriteFiles {
			files[f.Path] = f.Content
		}
		for _, p := range []string{"/etc/offbox/enroll.env", "/etc/offbox/enroll-token", "/etc/offbox/ca.pem", "/etc/offbox/offbox.yaml"} {
			if _, ok := files[p]; !ok {
				t.Errorf("cloud-init.yaml writes no %s", p)
			}
		}
		if !regexp.MustCompile(`(?m)^OFFBOX_SERVER=\S+:\d+$`).MatchString(files["/etc/offbox/enroll.env"]) {
			t.Errorf("enroll.env %q lacks OFFBOX_SERVER=HOST:PORT", files["/etc/offbox/enroll.env"])
		}
		for _, p := range []string{"/etc/offbox/enroll-token", "/etc/offbox/ca.pem"} {
			if !strings.HasPrefix(files[p], "REPLACE_") {
				t.Errorf("%s is %q, want a REPLACE_ placeholder", p, files[p])
			}
		}
		if m := secretRE.Find(ci); m != nil {
			t.Errorf("cloud-init.yaml holds what looks like a credential: %q", m)
		}
		checkConfigWith(t, []byte(files["/etc/offbox/offbox.yaml"]))
	})

	t.Run("enroll-unit", func(t *testing.T) {
		unit, err := os.ReadFile(filepath.Join("..", "systemd", "offbox-enroll.service"))
		if err != nil {
			t.Fatal(err)
		}
		for _, re := range []string{`(?m)^Type=oneshot$`, `(?m)^Before=offbox\.service$`,
			`(?m)^ConditionPathExists=!/var/lib/offbox/device\.pem$`, `(?m)^EnvironmentFile=/etc/offbox/enroll\.env$`,
			`(?m)^ExecStartPost=\+/bin/rm -f /etc/offbox/enroll-token$`, `(?m)^User=offbox$`} {
			if !regexp.MustCompile(re).Match(unit) {
				t.Errorf("offbox-enroll.service does not match %s", re)
			}
		}
		m := regexp.MustCompile(`(?m)^ExecStart=/usr/bin/offbox (.*)$`).FindSubmatch(unit)
		if m == nil {
			t.Fatal("offbox-enroll.service: no ExecStart=/usr/bin/offbox")
		}

		// The unit's command line, with its paths moved into a scratch
		// directory and ${OFFBOX_SERVER} from an enroll.env, against a
		// collector that enrolls.
		p := newPKI(t, "unused")
		work := t.TempDir()
		conf := filepath.Join(work, "offbox-ingest.yaml")
		os.WriteFile(conf, []byte("enroll:\n  ca_key: "+filepath.Join(string(p), "ca-key.pem")+"\n"), 0o600)
		db := filepath.Join(work, "offbox.db")
		in := startIngest(t, p, db, "127.0.0.1:0", "-config", conf)
		etc, state := filepath.Join(work, "etc"), filepath.Join(work, "state")
		os.MkdirAll(etc, 0o755)
		tokenFile := filepath.Join(etc, "enroll-token")
		os.WriteFile(tokenFile, []byte(tokenCreate(t, db, "-device", "ami-1")+"\n"), 0o640)
		ca, _ := os.ReadFile(p.ca())
		os.WriteFile(filepath.Join(etc, "ca.pem"), ca, 0o644)
		env := strings.Replace(files["/etc/offbox/enroll.env"], "ingest.example.net:7443", in.addr, 1)
		server := regexp.MustCompile(`(?m)^OFFBOX_SERVER=(\S+)$`).FindStringSubmatch(env)
		if server == nil {
			t.Fatalf("no OFFBOX_SERVER in %q", env)
		}
		line := strings.NewReplacer("${OFFBOX_SERVER}", server[1], "/etc/offbox", etc, "/var/lib/offbox", state).Replace(string(m[1]))
		args := strings.Fields(line)
		so, se, code := run(t, bin.agent, args...)
		if code != 0 || !strings.Contains(so, "enrolled as ami-1") {
			t.Fatalf("offbox %s: exit %d, stdout %q, stderr %q", line, code, so, se)
		}
		for _, f := range []string{"device.pem", "device-key.pem"} {
			if _, err := os.Stat(filepath.Join(state, f)); err != nil {
				t.Errorf("after enrolling: %v", err)
			}
		}
		// After ExecStartPost removed the token, a later boot does nothing.
		os.Remove(tokenFile)
		so, se, code = run(t, bin.agent, args...)
		if code != 0 || !strings.Contains(so, "nothing to do") {
			t.Errorf("second run: exit %d, stdout %q, stderr %q; want nothing to do", code, so, se)
		}
	})
}

// hclBalanced checks that braces, brackets and parentheses pair up outside
// strings and comments, and that strings and heredoc-free lines close: the
// mistakes a hand-edited template makes that packer would reject.
func hclBalanced(s string) error {
	var stack []rune
	pair := map[rune]rune{'}': '{', ']': '[', ')': '('}
	line := 1
	for i := 0; i < len(s); i++ {
		c := rune(s[i])
		switch {
		case c == '\n':
			line++
		case c == '#' || (c == '/' && i+1 < len(s) && s[i+1] == '/'):
			for i < len(s) && s[i] != '\n' {
				i++
			}
			line++
		case c == '"':
			depth := 0 // ${ ... } inside the string
			for i++; ; i++ {
				if i >= len(s) || s[i] == '\n' {
					return fmt.Errorf("line %d: unterminated string", line)
				}
				if s[i] == '\\' {
					i++
					continue
				}
				if s[i] == '$' && i+1 < len(s) && s[i+1] == '{' {
					depth++
					i++
					continue
				}
				if s[i] == '}' && depth > 0 {
					depth--
					continue
				}
				if s[i] == '"' && depth == 0 {
					break
				}
			}
		case c == '{' || c == '[' || c == '(':
			stack = append(stack, c)
		case pair[c] != 0:
			if len(stack) == 0 || stack[len(stack)-1] != pair[c] {
				return fmt.Errorf("line %d: unbalanced %q", line, c)
			}
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) > 0 {
		return fmt.Errorf("%d unclosed %q", len(stack), string(stack))
	}
	return nil
}
