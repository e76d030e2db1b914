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
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "./cmd/outpost")
	build.Dir = src
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fatalf("building the outpost of %s: %v\n%s", cfg.baseline, err, out)
	}
	return bin
}
