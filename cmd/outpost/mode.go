package main

import "strings"

// checkMode refuses to guess which mode serve was asked for: with neither a
// file nor a core there is nothing to serve, and with both, one of them
// would be ignored without a word.
func checkMode(configPath string, lookup func(string) (string, bool)) error {
	set := func(name string) bool {
		v, _ := lookup(name)
		return strings.TrimSpace(v) != ""
	}
	switch {
	case configPath != "" && set("AUTHENTIK_HOST"):
		return usageError("both modes asked for: --config or OUTPOST_CONFIG (standalone, providers from " + configPath +
			") and AUTHENTIK_HOST (core mode); unset AUTHENTIK_HOST to use the file, or drop --config and OUTPOST_CONFIG to follow the core")
	case configPath == "" && !set("AUTHENTIK_HOST") && !set("AUTHENTIK_TOKEN"):
		return usageError("no providers to serve: set AUTHENTIK_HOST and AUTHENTIK_TOKEN to follow an authentik core, " +
			"or pass --config FILE (or OUTPOST_CONFIG) for standalone providers from YAML; outpost --help lists the environment")
	}
	return nil
}
