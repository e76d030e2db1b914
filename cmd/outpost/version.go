package main

import (
	"fmt"
	"runtime"
)

// Set at build time: -ldflags "-X main.version=... -X main.buildHash=...".
// version must stay a valid PEP 440 string: the core parses it.
var (
	version   = "0.1.0"
	buildHash = ""
)

// userAgentVersion is version[+build], as the core expects in User-Agent and
// X-authentik-meta-version.
func userAgentVersion() string {
	if buildHash == "" {
		return version
	}
	return version + "+" + buildHash
}

func versionString() string {
	commit := buildHash
	if commit == "" {
		commit = "unknown"
	}
	return fmt.Sprintf("outpost %s (commit %s, %s %s/%s)", version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
