// Package cmdhelp prints the help of the offbox and offbox-ingest commands:
// a usage line, one or two sentences on what the command does, then its
// flags in flag.PrintDefaults style with each default shown once. Help that
// was asked for (-h, help CMD) goes to stdout and exits 0; a usage error
// goes to stderr and exits 2. It holds no command's text and never exits
// the process.
package cmdhelp

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Command is the help text of one command.
type Command struct {
	Usage string // the usage line, without "usage: "
	About string // one or two sentences: what the command does
}

// Stderr is the stderr a program hands its commands: whatever they write
// goes to Writer, but help that was asked for goes to Help (stdout). It
// lets a flag set, which has one output, put help and errors apart.
type Stderr struct {
	io.Writer           // stderr
	Help      io.Writer // stdout
}

// HelpWriter is where help asked for goes when w is a command's stderr:
// Stderr.Help, else w itself.
func HelpWriter(w io.Writer) io.Writer {
	if s, ok := w.(Stderr); ok && s.Help != nil {
		return s.Help
	}
	return w
}

// Parse parses args into fs. On -h it prints c's help and fs's flags on
// HelpWriter(fs.Output()) and returns (0, false); on a flag error the flag
// package's message (it names the flag given) and the usage line go to
// fs.Output(), and it returns (2, false). helpCmd is the command line that
// prints the full help (for example "offbox help run").
func Parse(fs *flag.FlagSet, args []string, c Command, helpCmd string) (code int, ok bool) {
	usage := fs.Usage
	fs.Usage = func() {} // printed below, on the stream that fits
	err := fs.Parse(args)
	fs.Usage = usage
	switch {
	case errors.Is(err, flag.ErrHelp):
		Write(HelpWriter(fs.Output()), c, fs)
		return 0, false
	case err != nil:
		Brief(fs.Output(), c, helpCmd)
		return 2, false
	}
	return 0, true
}

// Write prints c's full help and fs's flags to w.
func Write(w io.Writer, c Command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "usage: %s\n", c.Usage)
	if c.About != "" {
		fmt.Fprintf(w, "\n%s\n", c.About)
	}
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n == 0 {
		fmt.Fprintln(w, "\nThis command takes no flags.")
		return
	}
	fmt.Fprintln(w, "\nflags:")
	Flags(w, fs)
}

// Brief prints what follows a usage error: the usage line and the
// command that prints the full help.
func Brief(w io.Writer, c Command, helpCmd string) {
	fmt.Fprintf(w, "usage: %s\nRun '%s' for the flags.\n", c.Usage, helpCmd)
}

// Flags prints fs's flags as flag.PrintDefaults does, but shows a default
// once: not when the flag's text already says "(default", and a duration
// as it would be typed (24h, not 24h0m0s).
func Flags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		var b strings.Builder
		fmt.Fprintf(&b, "  -%s", f.Name)
		name, usage := flag.UnquoteUsage(f)
		if name != "" {
			b.WriteString(" " + name)
		}
		if b.Len() <= 4 { // a one-letter flag without a value name: same line
			b.WriteString("\t")
		} else {
			b.WriteString("\n    \t")
		}
		b.WriteString(strings.ReplaceAll(usage, "\n", "\n    \t"))
		if def := defaultText(f); def != "" && !strings.Contains(usage, "(default") {
			fmt.Fprintf(&b, " (default %s)", def)
		}
		fmt.Fprintln(w, b.String())
	})
}

// defaultText is f's default as shown in help, or "" for a zero default.
func defaultText(f *flag.Flag) string {
	switch f.DefValue {
	case "", "0", "false", "0s", "[]":
		return ""
	}
	if g, ok := f.Value.(flag.Getter); ok {
		switch g.Get().(type) { // the type only: the value may be set by now
		case time.Duration:
			if d, err := time.ParseDuration(f.DefValue); err == nil {
				return ShortDuration(d)
			}
		case string:
			return strconv.Quote(f.DefValue)
		}
	}
	return f.DefValue
}

// ShortDuration is d as a person types it: 24h, 1h30m, 90s.
func ShortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
