// Command sizeattr attributes a Go binary's bytes to the packages (or, with
// -m, the modules) they come from: the sizes `go tool nm -size` gives every
// symbol loaded from the file (.bss and .noptrbss, which take no file
// bytes, left out), summed by the symbol's package path. It also prints the
// loaded sections, since .gopclntab (function tables, roughly in proportion
// to .text) is not attributed to any package.
//
//	go build -o /tmp/offbox-sym ./cmd/offbox    # without -ldflags=-s: nm needs the symbols
//	go run ./internal/sizeattr -n 40 /tmp/offbox-sym
//
// It is for people deciding what the agent can leave out (issue 21); it is
// linked into no program.
package main

import (
	"bufio"
	"bytes"
	"debug/elf"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
)

func main() {
	byModule := flag.Bool("m", false, "sum by module (standard library by its first path element) instead of by package")
	top := flag.Int("n", 50, "print the `N` largest")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: sizeattr [-m] [-n N] BINARY\n\nBINARY must keep its symbol table (built without -ldflags=-s).\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(os.Stdout, flag.Arg(0), *byModule, *top); err != nil {
		fmt.Fprintln(os.Stderr, "sizeattr:", err)
		os.Exit(1)
	}
}

func run(w *os.File, path string, byModule bool, top int) error {
	f, err := elf.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var loaded []*elf.Section
	fileEnd := ^uint64(0) // first address of .bss or .noptrbss
	for _, s := range f.Sections {
		if s.Flags&elf.SHF_ALLOC == 0 {
			continue
		}
		if s.Type == elf.SHT_NOBITS {
			fileEnd = min(fileEnd, s.Addr)
			continue
		}
		loaded = append(loaded, s)
	}
	out, err := exec.Command("go", "tool", "nm", "-size", path).Output()
	if err != nil {
		return fmt.Errorf("go tool nm -size %s: %w", path, err)
	}
	sums := map[string]uint64{}
	var total uint64
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		addr, size, name, ok := parseNM(sc.Text())
		if !ok || addr >= fileEnd {
			continue
		}
		p := packageOf(name)
		if byModule {
			p = moduleOf(p)
		}
		sums[p] += size
		total += size
	}
	keys := make([]string, 0, len(sums))
	for k := range sums {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return sums[keys[i]] > sums[keys[j]] || sums[keys[i]] == sums[keys[j]] && keys[i] < keys[j]
	})
	bw := bufio.NewWriter(w)
	defer bw.Flush()
	for i, k := range keys {
		if i == top {
			break
		}
		fmt.Fprintf(bw, "%10d %5.1f%%  %s\n", sums[k], 100*float64(sums[k])/float64(total), k)
	}
	fmt.Fprintf(bw, "%10d         symbols loaded from the file, in all\n", total)
	var secs uint64
	for _, s := range loaded {
		fmt.Fprintf(bw, "%10d         section %s\n", s.Size, s.Name)
		secs += s.Size
	}
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	fmt.Fprintf(bw, "%10d         loaded sections, in all (file %d bytes with symbols)\n", secs, st.Size())
	return nil
}

// parseNM parses one line of `go tool nm -size`: address, size, type, name.
func parseNM(line string) (addr, size uint64, name string, ok bool) {
	f := strings.Fields(line)
	if len(f) < 4 {
		return 0, 0, "", false
	}
	a, err1 := strconv.ParseUint(f[0], 16, 64)
	s, err2 := strconv.ParseUint(f[1], 10, 64)
	if err1 != nil || err2 != nil || f[2] == "U" {
		return 0, 0, "", false
	}
	return a, s, strings.Join(f[3:], " "), true
}

// packageOf is the package path of a symbol name: "crypto/tls.(*Conn).Read"
// is crypto/tls, "type:*google.golang.org/grpc.ClientConn" is
// google.golang.org/grpc, "go:itab.*a/b.T,c.I" is a/b. Linker-made
// symbols without a package ("go:func.*", "runtime.etext") keep their
// first element.
func packageOf(name string) string {
	for _, pre := range []string{"type:.eq.", "type:.hash.", "type:", "go:itab.", "go:info.", "go:cuinfo.", "go:string."} {
		if strings.HasPrefix(name, pre) {
			name = name[len(pre):]
			break
		}
	}
	name = strings.TrimLeft(name, "*[]0123456789")
	if strings.HasPrefix(name, "go:") {
		return "go:" + strings.SplitN(name[3:], ".", 2)[0]
	}
	// Type arguments, an itab's interface, a method's receiver (whose
	// method name may itself be package-qualified), a struct type.
	if i := strings.IndexAny(name, "[,( "); i >= 0 {
		name = name[:i]
	}
	slash := strings.LastIndexByte(name, '/')
	if dot := strings.IndexByte(name[slash+1:], '.'); dot >= 0 {
		name = name[:slash+1+dot]
	}
	if name == "" {
		return "?"
	}
	return name
}

// moduleOf maps a package path to its module, roughly: the first three
// elements of a github.com or golang.org/x path, the first two of
// google.golang.org and gopkg.in, "std:" and the first element for the
// standard library.
func moduleOf(p string) string {
	el := strings.Split(p, "/")
	switch {
	case el[0] == "github.com" || el[0] == "golang.org":
		return strings.Join(el[:min(3, len(el))], "/")
	case strings.Contains(el[0], "."):
		return strings.Join(el[:min(2, len(el))], "/")
	}
	return "std:" + el[0]
}
