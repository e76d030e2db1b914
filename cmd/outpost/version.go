package main

import (
	"flag"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Set at build time: -ldflags "-X main.version=... -X main.buildHash=...".
// version must stay a valid PEP 440 string: the core parses it.
var (
	version   = "0.1.0"
	buildHash = ""
)

// A plain "go build" sets no ldflags, but the toolchain records the VCS
// revision: it stands in for buildHash, so such a build still tells the
// core, the metrics and the operator which commit it is.
func init() {
	if buildHash == "" {
		buildHash = vcsSetting("vcs.revision")
	}
}

// vcsSetting is one of the build settings the Go toolchain recorded, or "".
func vcsSetting(key string) string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, s := range info.Settings {
		if s.Key == key {
			return s.Value
		}
	}
	return ""
}

// userAgentVersion is version[+build], as the core expects in User-Agent and
// X-authentik-meta-version.
func userAgentVersion() string {
	if buildHash == "" {
		return version
	}
	return version + "+" + buildHash
}

// versionString is the first line as before, then what the toolchain
// recorded about the build, when it did.
func versionString() string {
	commit := buildHash
	if commit == "" {
		commit = "unknown"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "outpost %s (commit %s, %s %s/%s)", version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	// "(devel)" says nothing: a build without VCS information.
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		fmt.Fprintf(&b, "\nmodule %s %s", info.Main.Path, info.Main.Version)
	}
	if rev := vcsSetting("vcs.revision"); rev != "" {
		fmt.Fprintf(&b, "\n%s revision %s", vcsSetting("vcs"), rev)
		if t := vcsSetting("vcs.time"); t != "" {
			fmt.Fprintf(&b, " at %s", t)
		}
		if vcsSetting("vcs.modified") == "true" {
			b.WriteString(", with uncommitted changes")
		}
	}
	return b.String()
}

func versionCommand(args []string) error {
	if err := parseFlags(flag.NewFlagSet("version", flag.ContinueOnError), args, versionHelp, 0); err != nil {
		return err
	}
	fmt.Println(versionString())
	return nil
}
