// Command outpost is an identity-aware reverse proxy that speaks authentik's
// outpost contract. Subcommands: serve (default), demo, devcore, whoami,
// healthcheck, version, hash-password.
package main

import (
	"fmt"
	"os"
)

const usage = `usage: outpost [command] [flags]

commands:
  serve          run the outpost (default). With --config FILE (or OUTPOST_CONFIG)
                 providers come from YAML; otherwise from the core at AUTHENTIK_HOST.
  demo           run a stand-in core, the outpost and a whoami app on 127.0.0.1
                 (demo --standalone: the outpost from YAML, the core as a plain OIDC issuer)
  devcore        run the stand-in core: devcore --config core.yaml [--listen ADDR]
  whoami         run a small upstream that shows the request it received
  healthcheck    exit 0 when the local metrics listener answers ping
                 (healthcheck URL: when URL answers HEAD below 400)
  version        print version, commit and Go version
  hash-password  read a password on stdin, print its bcrypt hash (for devcore YAML)
`

func main() {
	args := os.Args[1:]
	cmd := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		startGCTuner(os.Getenv)
		err = serveCommand(args)
	case "demo":
		startGCTuner(os.Getenv)
		err = demoCommand(args)
	case "devcore":
		err = devcoreCommand(args)
	case "whoami":
		err = whoamiCommand(args)
	case "healthcheck":
		os.Exit(healthcheckCommand(os.Getenv, args))
	case "version":
		fmt.Println(versionString())
	case "hash-password":
		err = hashPasswordCommand(os.Stdin, os.Stdout)
	case "help", "-h", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "outpost: unknown command %q\n\n%s", cmd, usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "outpost %s: %v\n", cmd, err)
		os.Exit(1)
	}
}
