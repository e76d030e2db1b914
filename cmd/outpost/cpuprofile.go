package main

import (
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
)

// cpuProfileEnv names a file the outpost writes a CPU profile to, from
// start until it exits, with its process id appended (two outposts started
// with the same environment write two files). It exists to make the
// profile a PGO build is compiled with (cmd/outpost/default.pgo, `make
// pgo`); off, it costs nothing.
const cpuProfileEnv = "OUTPOST_CPU_PROFILE"

// startCPUProfile starts the profile cpuProfileEnv asks for and returns
// the function that finishes it.
func startCPUProfile() (stop func(), err error) {
	path := os.Getenv(cpuProfileEnv)
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path + "." + strconv.Itoa(os.Getpid()))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cpuProfileEnv, err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", cpuProfileEnv, err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
