package main

import "strings"

// serve refuses to guess which mode it was asked for: with neither a file
// nor a core there is nothing to serve, and with both, one of them would be
// ignored without a word.

const errNoMode = usageError("no providers to serve: set AUTHENTIK_HOST and AUTHENTIK_TOKEN to follow an authentik core, " +
	"or pass --config FILE (or OUTPOST_CONFIG) for standalone providers from YAML; outpost --help lists the environment")

func envSet(lookup func(string) (string, bool), name string) bool {
	v, _ := lookup(name)
	return strings.TrimSpace(v) != ""
}

// bothModes is the refusal of a file and a core at once, or nil.
func bothModes(configPath string, lookup func(string) (string, bool)) error {
	if configPath != "" && envSet(lookup, "AUTHENTIK_HOST") {
		return usageError("both modes asked for: --config or OUTPOST_CONFIG (standalone, providers from " + configPath +
			") and AUTHENTIK_HOST (core mode); unset AUTHENTIK_HOST to use the file, or drop --config and OUTPOST_CONFIG to follow the core")
	}
	return nil
}

// noMode is whether neither mode was asked for.
func noMode(configPath string, lookup func(string) (string, bool)) bool {
	return configPath == "" && !envSet(lookup, "AUTHENTIK_HOST") && !envSet(lookup, "AUTHENTIK_TOKEN")
}
