package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// buildBaseline builds the outpost of the git revision cfg.baseline from a
// `git archive` of it (the repository and its work tree are left as they
// are) and returns the binary's path.
func buildBaseline(cfg config) string {
	rev, err := exec.Command("git", "-C", cfg.repo, "rev-parse", "--short", cfg.baseline+"^{commit}").Output()
	if err != nil {
		fatalf("-baseline %s: not a commit of this repository: %v", cfg.baseline, err)
	}
	src := filepath.Join(cfg.dir, "baseline-src")
	if err := os.MkdirAll(src, 0o700); err != nil {
		fatalf("%v", err)
	}
	archive := exec.Command("sh", "-c", `git -C "$1" archive "$2" | tar -x -C "$3"`, "sh", cfg.repo, strings.TrimSpace(string(rev)), src)
	if out, err := archive.CombinedOutput(); err != nil {
		fatalf("unpacking %s: %v\n%s", cfg.baseline, err, out)
	}
	bin := filepath.Join(cfg.dir, "outpost-baseline")
	buildOutpost(cfg, src, bin, "the outpost of "+cfg.baseline)
	return bin
}

// buildOutpost builds ./cmd/outpost of the tree in dir ("": this one) to
// bin as the Makefile and the Dockerfile do (static, -trimpath, stripped
// unless -symbols): the RSS the harness reports is then the shipped
// binary's, whose file-backed pages are part of it.
func buildOutpost(cfg config, dir, bin, what string) {
	args := []string{"build", "-trimpath"}
	if !cfg.symbols {
		args = append(args, "-ldflags=-s -w")
	}
	build := exec.Command("go", append(args, "-o", bin, "./cmd/outpost")...)
	build.Dir = dir
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fatalf("building %s: %v\n%s", what, err, out)
	}
}
