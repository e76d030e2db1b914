package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// runCLI runs the binary to completion with only env set and returns what
// it printed on each stream and its exit status.
func runCLI(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader("")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("outpost %v still running after 20 s; printed %q %q", args, out.String(), errOut.String())
	}
	return out.String(), errOut.String(), cmd.ProcessState.ExitCode()
}

func TestHelpListsCommandsAndEnvironment(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"-help"}, {"help"}, {"help", "help"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			out, errOut, code := runCLI(t, nil, args...)
			if code != 0 || errOut != "" {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
			for _, want := range []string{
				"usage: outpost [command] [flags]",
				"  serve          run the outpost (the default command; also \"proxy\", as authentik 2026.8+",
				"  demo           run a stand-in core, the outpost and a whoami app on 127.0.0.1",
				"  devcore        run the stand-in core from a YAML file",
				"  whoami         run a small upstream that shows the request it received",
				"  healthcheck    exit 0 when the outpost's ping answers (for container healthchecks)",
				"  version        print version, commit and Go version (also --version, -v)",
				"  hash-password  read a password on stdin, print its bcrypt hash (for devcore YAML)",
				"  core mode        AUTHENTIK_HOST and AUTHENTIK_TOKEN: an authentik core, as authentik's outpost",
				"  standalone mode  --config FILE (or OUTPOST_CONFIG): a YAML file (docs/standalone.md)",
				"  AUTHENTIK_HOST             the core's base URL, e.g. https://authentik.example.com",
				"  AUTHENTIK_TOKEN            the outpost's API token",
				"  OUTPOST_CONFIG             standalone mode: the providers YAML (same as serve --config)",
				"  AUTHENTIK_LISTEN__METRICS  metrics, ping and readiness (default 0.0.0.0:9300)",
				"  AUTHENTIK_LOG_LEVEL        trace, debug, info (default), warning or error",
				"  AUTHENTIK_LOG__FORMAT      json (default; text on a terminal), text, or authentik",
				"exit status: 0 done, 1 failed, 2 wrong usage (a bad flag or command, no mode or both modes).",
			} {
				if !hasLine(out, want) {
					t.Errorf("help has no line %q:\n%s", want, out)
				}
			}
		})
	}
}

func hasLine(out, line string) bool {
	for _, l := range strings.Split(out, "\n") {
		if l == line {
			return true
		}
	}
	return false
}

// Each command answers --help itself, on stdout, and does nothing else:
// healthcheck must not take --help for a URL, hash-password must not wait
// for a password.
func TestEachCommandHasItsOwnHelp(t *testing.T) {
	cases := []struct {
		cmd   string
		first string
		flag  string // a line of its flags list, "" when it has none
	}{
		{"serve", "usage: outpost serve [--config FILE]", "  --config string"},
		{"demo", "usage: outpost demo [flags]", "  --listen string"},
		{"devcore", "usage: outpost devcore --config FILE [--listen ADDR] [--core-version VERSION]", "  --config string"},
		{"whoami", "usage: outpost whoami [--listen ADDR]", "  --listen string"},
		{"healthcheck", "usage: outpost healthcheck [URL | proxy]", ""},
		{"version", "usage: outpost version", ""},
		{"hash-password", "usage: echo PASSWORD | outpost hash-password", ""},
	}
	for _, tc := range cases {
		for _, args := range [][]string{{tc.cmd, "--help"}, {tc.cmd, "-h"}, {"help", tc.cmd}} {
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				out, errOut, code := runCLI(t, nil, args...)
				if code != 0 || errOut != "" {
					t.Fatalf("exit %d, stderr %q", code, errOut)
				}
				if first, _, _ := strings.Cut(out, "\n"); first != tc.first {
					t.Errorf("first line %q, want %q", first, tc.first)
				}
				if tc.flag != "" && !hasLine(out, tc.flag) {
					t.Errorf("no flag line %q:\n%s", tc.flag, out)
				}
				if tc.flag == "" && strings.Contains(out, "flags:") {
					t.Errorf("lists flags it does not have:\n%s", out)
				}
			})
		}
	}
}

func TestVersionFlagsAndCommand(t *testing.T) {
	first := regexp.MustCompile(`^outpost ` + regexp.QuoteMeta(version) + ` \(commit testbuild, go1\.\d+(\.\d+)?\S* \w+/\w+\)$`)
	for _, args := range [][]string{{"--version"}, {"-v"}, {"-version"}, {"version"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			out, errOut, code := runCLI(t, nil, args...)
			if code != 0 || errOut != "" {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			if !first.MatchString(lines[0]) {
				t.Errorf("first line %q", lines[0])
			}
			// The test binary is built without VCS information (a worktree,
			// or GOFLAGS=-buildvcs=false): the first line is all there is.
			// TestPlainGoBuildReportsModuleAndRevision covers the rest.
			for _, l := range lines[1:] {
				if !strings.HasPrefix(l, "module github.com/outpost-dev/outpost v") && !strings.HasPrefix(l, "git revision ") {
					t.Errorf("unexpected line %q", l)
				}
			}
		})
	}
}

// A mistake in how the outpost is invoked is one line on stderr, exit 2:
// the flag package's own usage dump and a second copy of the error are
// gone.
func TestUsageMistakesAreOneLineAndExit2(t *testing.T) {
	cases := []struct {
		env  []string
		args []string
		want string
	}{
		{nil, []string{"--bogus"}, "outpost serve: flag provided but not defined: -bogus (outpost serve --help lists the flags)"},
		{nil, []string{"serve", "-config"}, "outpost serve: flag needs an argument: -config (outpost serve --help lists the flags)"},
		{nil, []string{"serve", "--config", "x.yaml", "extra"}, `outpost serve: unexpected argument "extra" (outpost serve --help)`},
		{nil, []string{"demo", "--nope"}, "outpost demo: flag provided but not defined: -nope (outpost demo --help lists the flags)"},
		{nil, []string{"devcore"}, "outpost devcore: --config FILE is required (outpost devcore --help)"},
		{nil, []string{"devcore", "--config", "core.yaml", "--core-version", "2026.9"}, `outpost devcore: --core-version "2026.9": want one of 2026.2, 2026.8, 2026.11`},
		{nil, []string{"whoami", "--listen"}, "outpost whoami: flag needs an argument: -listen (outpost whoami --help lists the flags)"},
		{nil, []string{"healthcheck", "--url", "x"}, "outpost healthcheck: flag provided but not defined: -url (outpost healthcheck --help lists the flags)"},
		{nil, []string{"healthcheck", "http://a/", "http://b/"}, `outpost healthcheck: unexpected argument "http://b/" (outpost healthcheck --help)`},
		{nil, []string{"version", "--short"}, "outpost version: flag provided but not defined: -short (outpost version --help lists the flags)"},
		{nil, []string{"hash-password", "--cost", "4"}, "outpost hash-password: flag provided but not defined: -cost (outpost hash-password --help lists the flags)"},
		{nil, []string{"nonsense"}, `outpost nonsense: unknown command "nonsense" (outpost --help lists the commands)`},
		{nil, []string{"help", "serve", "demo"}, "outpost help: want at most one command name"},
		// No environment at all: say both ways to give the outpost providers.
		{nil, nil, "outpost serve: no providers to serve: set AUTHENTIK_HOST and AUTHENTIK_TOKEN to follow an authentik core, " +
			"or pass --config FILE (or OUTPOST_CONFIG) for standalone providers from YAML; outpost --help lists the environment"},
		// The other variables are still checked, the missing mode said last.
		{[]string{"AUTHENTIK_LOG__FORMAT=xml"}, nil, `outpost serve: AUTHENTIK_LOG__FORMAT: unknown format "xml" (want json, text or authentik)` + "\n" +
			"no providers to serve: set AUTHENTIK_HOST and AUTHENTIK_TOKEN to follow an authentik core, " +
			"or pass --config FILE (or OUTPOST_CONFIG) for standalone providers from YAML; outpost --help lists the environment"},
		// Both modes: refused, not a silent standalone.
		{[]string{"AUTHENTIK_HOST=https://authentik.example.com", "AUTHENTIK_TOKEN=t"}, []string{"--config", "providers.yaml"},
			"outpost serve: both modes asked for: --config or OUTPOST_CONFIG (standalone, providers from providers.yaml) and AUTHENTIK_HOST (core mode); " +
				"unset AUTHENTIK_HOST to use the file, or drop --config and OUTPOST_CONFIG to follow the core"},
		{[]string{"AUTHENTIK_HOST=https://authentik.example.com", "OUTPOST_CONFIG=/etc/outpost.yaml"}, []string{"serve"},
			"outpost serve: both modes asked for: --config or OUTPOST_CONFIG (standalone, providers from /etc/outpost.yaml) and AUTHENTIK_HOST (core mode); " +
				"unset AUTHENTIK_HOST to use the file, or drop --config and OUTPOST_CONFIG to follow the core"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(append(append([]string{}, tc.env...), tc.args...), " "), func(t *testing.T) {
			out, errOut, code := runCLI(t, tc.env, tc.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
			if errOut != tc.want+"\n" {
				t.Errorf("stderr\n  %q\nwant\n  %q", errOut, tc.want)
			}
		})
	}
}

// A plain "go build", no ldflags, from a git checkout still says which
// module version and commit it is: the toolchain's build info. The tree is
// copied into a fresh repository because the toolchain records nothing in
// a git worktree, and built with -buildvcs=auto, go build's own default,
// in case GOFLAGS turned it off.
func TestPlainGoBuildReportsModuleAndRevision(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	files, err := exec.Command("git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Skipf("not a git checkout: %v", err)
	}
	src := t.TempDir()
	for _, f := range strings.Split(strings.TrimRight(string(files), "\x00"), "\x00") {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			continue // deleted in the working tree
		}
		if err := os.MkdirAll(filepath.Join(src, filepath.Dir(f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(src, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", src, "-c", "user.name=test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false"}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q")
	git("add", "-A")
	git("commit", "-q", "-m", "snapshot")
	rev := git("rev-parse", "HEAD")

	bin := filepath.Join(t.TempDir(), "outpost")
	build := exec.Command("go", "build", "-buildvcs=auto", "-o", bin, "./cmd/outpost")
	build.Dir = src
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	want := []*regexp.Regexp{
		regexp.MustCompile(`^outpost ` + regexp.QuoteMeta(version) + ` \(commit ` + rev + `, go1\.`),
		regexp.MustCompile(`^module github\.com/outpost-dev/outpost v\S+-` + rev[:12] + `$`),
		regexp.MustCompile(`^git revision ` + rev + ` at \d{4}-\d\d-\d\dT`),
	}
	if len(lines) != len(want) {
		t.Fatalf("version printed %d lines, want %d:\n%s", len(lines), len(want), out)
	}
	for i, re := range want {
		if !re.MatchString(lines[i]) {
			t.Errorf("line %d %q does not match %s", i+1, lines[i], re)
		}
	}
}

// AUTHENTIK_LOG__FORMAT=authentik writes authentik's keys, so a pipeline
// built for authentik's outpost keeps parsing the lines; unset, the lines
// stay as they were.
func TestAuthentikLogFormat(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "providers.yaml")
	if err := os.WriteFile(cfg, []byte(standaloneYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		format string
		keys   []string // keys every line has
		absent []string
		level  string // of the "configuration in force" line
		msgKey string
	}{
		{"authentik", []string{"event", "level", "logger", "timestamp"}, []string{"msg", "time"}, "info", "event"},
		{"", []string{"msg", "level", "time"}, []string{"event", "timestamp", "logger"}, "INFO", "msg"},
		{"json", []string{"msg", "level", "time"}, []string{"event", "timestamp", "logger"}, "INFO", "msg"},
	}
	for _, tc := range cases {
		t.Run("format="+tc.format, func(t *testing.T) {
			env := []string{"AUTHENTIK_LISTEN__HTTP=" + freeAddr(t), "AUTHENTIK_LISTEN__METRICS=" + freeAddr(t)}
			if tc.format != "" {
				env = append(env, "AUTHENTIK_LOG__FORMAT="+tc.format)
			}
			p := start(t, env, "--config", cfg)
			p.waitFor(t, "configuration in force", 30*time.Second)
			seen := 0
			for _, l := range strings.Split(strings.TrimSpace(p.output()), "\n") {
				var line map[string]any
				if err := json.Unmarshal([]byte(l), &line); err != nil {
					t.Errorf("not a JSON line: %q", l)
					continue
				}
				for _, k := range tc.keys {
					if _, ok := line[k]; !ok {
						t.Errorf("line without %q: %s", k, l)
					}
				}
				for _, k := range tc.absent {
					if _, ok := line[k]; ok {
						t.Errorf("line with %q: %s", k, l)
					}
				}
				if line[tc.msgKey] == "configuration in force" {
					seen++
					if line["level"] != tc.level {
						t.Errorf("level %v, want %q: %s", line["level"], tc.level, l)
					}
					if tc.format == "authentik" {
						if line["logger"] != "authentik.outpost" {
							t.Errorf("logger %v: %s", line["logger"], l)
						}
						if _, err := time.Parse(time.RFC3339, line["timestamp"].(string)); err != nil {
							t.Errorf("timestamp: %v", err)
						}
					}
				}
			}
			if seen != 1 {
				t.Errorf("%d lines say configuration in force", seen)
			}
		})
	}
}
