package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// usageError is a mistake in how a command was invoked (a bad flag, an
// unknown command, no mode or two): one line on stderr, exit 2.
type usageError string

func (e usageError) Error() string { return string(e) }

// errHelpShown is returned once a command printed its --help: exit 0.
var errHelpShown = errors.New("help shown")

// parseFlags parses a command's flags. The flag package's own printing is
// off: it would print a bad flag's error and then the whole usage, and the
// caller printed the error again. --help prints help (see help.go) and the
// flags to stdout; a command takes at most maxArgs positional arguments.
func parseFlags(fs *flag.FlagSet, args []string, help string, maxArgs int) error {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		printHelp(os.Stdout, fs, help)
		return errHelpShown
	}
	if err != nil {
		return usageError(fmt.Sprintf("%v (outpost %s --help lists the flags)", err, fs.Name()))
	}
	if fs.NArg() > maxArgs {
		return usageError(fmt.Sprintf("unexpected argument %q (outpost %s --help)", fs.Arg(maxArgs), fs.Name()))
	}
	return nil
}

// printHelp writes a command's help, then its flags as "--name" (both one
// and two dashes work).
func printHelp(w io.Writer, fs *flag.FlagSet, help string) {
	fmt.Fprint(w, help)
	var flags strings.Builder
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		fmt.Fprintf(&flags, "  --%s", f.Name)
		if name != "" {
			fmt.Fprintf(&flags, " %s", name)
		}
		fmt.Fprintf(&flags, "\n        %s", usage)
		if f.DefValue != "" && f.DefValue != "false" {
			fmt.Fprintf(&flags, " (default %s)", f.DefValue)
		}
		flags.WriteString("\n")
	})
	if flags.Len() > 0 {
		fmt.Fprintf(w, "\nflags:\n%s", flags.String())
	}
}
