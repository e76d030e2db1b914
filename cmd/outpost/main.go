// Command outpost is an identity-aware reverse proxy that speaks authentik's
// outpost contract. Subcommands: serve (default), demo, devcore, whoami,
// healthcheck, version, hash-password; help.go describes them.
package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

// run dispatches to a command and turns its outcome into an exit status:
// 0 done (or help shown), 1 failed, 2 asked for wrongly.
func run(args []string) int {
	cmd := "serve"
	if len(args) > 0 {
		switch a := args[0]; a {
		case "-h", "-help", "--help":
			fmt.Print(usage)
			return 0
		case "-v", "-version", "--version":
			fmt.Println(versionString())
			return 0
		default:
			// Flags first mean serve's flags: "outpost --config FILE".
			if !strings.HasPrefix(a, "-") {
				cmd, args = a, args[1:]
			}
		}
	}
	if cmd == "help" {
		switch len(args) {
		case 0:
			fmt.Print(usage)
			return 0
		case 1:
			if args[0] == "help" {
				fmt.Print(usage)
				return 0
			}
			// "help serve" is "serve --help".
			cmd, args = args[0], []string{"--help"}
		default:
			return exitStatus("help", usageError("want at most one command name"))
		}
	}
	return exitStatus(cmd, dispatch(cmd, args))
}

func dispatch(cmd string, args []string) error {
	switch cmd {
	case "serve", "proxy":
		// "proxy": authentik 2026.8+ starts its outpost as "/authentik proxy".
		startGCTuner(os.Getenv)
		return serveCommand(args)
	case "demo":
		startGCTuner(os.Getenv)
		return demoCommand(args)
	case "devcore":
		return devcoreCommand(args)
	case "whoami":
		return whoamiCommand(args)
	case "healthcheck":
		return healthcheckCommand(os.Getenv, args)
	case "version":
		return versionCommand(args)
	case "hash-password":
		return hashPasswordCommand(args, os.Stdin, os.Stdout)
	}
	return usageError(fmt.Sprintf("unknown command %q (outpost --help lists the commands)", cmd))
}

// exitStatus prints err, once and on one line where it is a usage mistake.
func exitStatus(cmd string, err error) int {
	var ue usageError
	switch {
	case err == nil, errors.Is(err, errHelpShown):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(os.Stderr, "outpost %s: %v\n", cmd, err)
		return 2
	}
	fmt.Fprintf(os.Stderr, "outpost %s: %v\n", cmd, err)
	return 1
}
