// Package deploy checks the files operators copy: the Dockerfile, the
// compose files and the Kubernetes manifests. There is no container engine
// here, so they are parsed with the parsers Docker, Compose and Kubernetes
// use, and whatever can be run without one (the image's build command, the
// binary's probes and healthchecks) is run.
package deploy

import (
	"bytes"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// repo is the repository root, relative to this package.
const repo = ".."

// dockerfile is the parsed Dockerfile: its stages, with ARG defaults.
type dockerfile struct {
	stages  []instructions.Stage
	metaArg map[string]string // ARGs before the first FROM, with defaults
}

func parseDockerfile(t *testing.T) dockerfile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repo, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	ast, err := parser.Parse(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	for _, w := range ast.Warnings {
		t.Errorf("Dockerfile warning: %s", w.Short)
	}
	stages, metaArgs, err := instructions.Parse(ast.AST, nil)
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	d := dockerfile{stages: stages, metaArg: map[string]string{}}
	for _, a := range metaArgs {
		for _, kv := range a.Args {
			if kv.Value != nil {
				d.metaArg[kv.Key] = *kv.Value
			}
		}
	}
	return d
}

func commandsOf[T instructions.Command](s instructions.Stage) []T {
	var out []T
	for _, c := range s.Commands {
		if x, ok := c.(T); ok {
			out = append(out, x)
		}
	}
	return out
}

// goBuildRun is the build stage's RUN that compiles the outpost.
func (d dockerfile) goBuildRun(t *testing.T) (instructions.Stage, *instructions.RunCommand) {
	t.Helper()
	for _, s := range d.stages {
		for _, r := range commandsOf[*instructions.RunCommand](s) {
			if strings.Contains(strings.Join(r.CmdLine, " "), "go build") {
				return s, r
			}
		}
	}
	t.Fatal("no RUN with go build in the Dockerfile")
	return instructions.Stage{}, nil
}

// The image is what item 1 of the packaging work says: multi-stage, a
// static build with version and build hash injected, a minimal non-root
// runtime, /proxy, the three ports, the healthcheck authentik runs.
func TestDockerfile(t *testing.T) {
	d := parseDockerfile(t)
	if len(d.stages) < 2 {
		t.Fatalf("%d stages, want a build stage and a runtime stage", len(d.stages))
	}
	build, run := d.goBuildRun(t)
	final := d.stages[len(d.stages)-1]
	if final.Name == build.Name {
		t.Fatal("the last stage builds: the runtime image would hold the toolchain")
	}

	// The toolchain is the one go.mod asks for.
	gomod, _ := os.ReadFile(filepath.Join(repo, "go.mod"))
	goVersion := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(gomod)
	if goVersion == nil || d.metaArg["GO_VERSION"] != string(goVersion[1]) {
		t.Errorf("ARG GO_VERSION=%q, want go.mod's %q", d.metaArg["GO_VERSION"], goVersion)
	}
	if !strings.Contains(build.BaseName, "golang:${GO_VERSION}") {
		t.Errorf("build stage FROM %s, want the golang image at ${GO_VERSION}", build.BaseName)
	}

	cmd := strings.Join(run.CmdLine, " ")
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-X main.version=${VERSION}", "-X main.buildHash=${GIT_BUILD_HASH}", "./cmd/outpost"} {
		if !strings.Contains(cmd, want) {
			t.Errorf("build command lacks %q: %s", want, cmd)
		}
	}

	// Minimal runtime: distroless static (CA certificates, no shell), run
	// as UID 1000, binary at / and /proxy.
	if !strings.HasPrefix(final.BaseName, "gcr.io/distroless/static") && final.BaseName != "scratch" {
		t.Errorf("runtime stage FROM %s, want distroless static or scratch", final.BaseName)
	}
	users := commandsOf[*instructions.UserCommand](final)
	if len(users) == 0 || !regexp.MustCompile(`^1000(:1000)?$`).MatchString(users[len(users)-1].User) {
		t.Errorf("runtime USER %v, want 1000 (authentik's image runs as UID 1000)", users)
	}
	var exposed []string
	for _, e := range commandsOf[*instructions.ExposeCommand](final) {
		exposed = append(exposed, e.Ports...)
	}
	slices.Sort(exposed)
	if !slices.Equal(exposed, []string{"9000", "9300", "9443"}) {
		t.Errorf("EXPOSE %v, want 9000 9443 9300", exposed)
	}
	envs := map[string]string{}
	for _, e := range commandsOf[*instructions.EnvCommand](final) {
		for _, kv := range e.Env {
			envs[kv.Key] = kv.Value
		}
	}
	if envs["TMPDIR"] != "/dev/shm/" {
		t.Errorf("ENV TMPDIR=%q, want /dev/shm/ as authentik's image", envs["TMPDIR"])
	}

	// Entrypoint, and the binary also at /proxy: the build stage writes
	// both into one directory that the runtime stage copies to /.
	outPath := regexp.MustCompile(`-o (\S+)`).FindStringSubmatch(cmd)
	if outPath == nil {
		t.Fatalf("build command has no -o: %s", cmd)
	}
	outDir, binName := filepath.Dir(outPath[1]), filepath.Base(outPath[1])
	var copied bool
	for _, c := range commandsOf[*instructions.CopyCommand](final) {
		if c.From == build.Name && slices.Contains(c.SourcePaths, outDir+"/") && c.DestPath == "/" {
			copied = true
		}
	}
	if !copied {
		t.Errorf("the runtime stage does not COPY --from=%s %s/ /", build.Name, outDir)
	}
	// /proxy for cores before authentik 2026.8 (its Go outpost's path),
	// /authentik for 2026.8+ (its Rust outpost's).
	for _, name := range []string{"proxy", "authentik"} {
		var linked bool
		for _, r := range commandsOf[*instructions.RunCommand](build) {
			if strings.Contains(strings.Join(r.CmdLine, " ")+" ", "ln -s "+binName+" "+outDir+"/"+name+" ") {
				linked = true
			}
		}
		if !linked {
			t.Errorf("the build stage does not link %s/%s to %s", outDir, name, binName)
		}
	}
	eps := commandsOf[*instructions.EntrypointCommand](final)
	if len(eps) != 1 || eps[0].PrependShell || !slices.Equal(eps[0].CmdLine, []string{"/" + binName}) {
		t.Errorf("ENTRYPOINT %v, want exec form [\"/%s\"]", eps, binName)
	}
	cmds := commandsOf[*instructions.CmdCommand](final)
	if len(cmds) != 1 || !slices.Equal(cmds[0].CmdLine, []string{"serve"}) {
		t.Errorf("CMD %v, want [\"serve\"]", cmds)
	}

	// The healthcheck authentik's Docker integration uses: /proxy
	// healthcheck every 5 s, 20 retries, 3 s start period.
	hcs := commandsOf[*instructions.HealthCheckCommand](final)
	if len(hcs) != 1 {
		t.Fatalf("%d HEALTHCHECKs in the runtime stage, want 1", len(hcs))
	}
	h := hcs[0].Health
	if !slices.Equal(h.Test, []string{"CMD", "/proxy", "healthcheck"}) {
		t.Errorf("HEALTHCHECK %v, want CMD [/proxy healthcheck]", h.Test)
	}
	if h.Interval != 5*time.Second || h.Retries != 20 || h.StartPeriod != 3*time.Second || h.Timeout <= 0 {
		t.Errorf("HEALTHCHECK interval %s retries %d start period %s timeout %s, want 5s, 20, 3s and a timeout",
			h.Interval, h.Retries, h.StartPeriod, h.Timeout)
	}
}

var (
	imageBuildOnce sync.Once
	imageDir       string
	imageBuildErr  error
)

// imageBinary runs the Dockerfile's own build command, and its /proxy
// link, here: the same command line with only the output directory moved to
// a temporary one. It returns that directory (outpost and proxy in it).
func imageBinary(t *testing.T) string {
	t.Helper()
	d := parseDockerfile(t)
	build, run := d.goBuildRun(t)
	imageBuildOnce.Do(func() {
		imageDir, imageBuildErr = os.MkdirTemp("", "outpost-image")
		if imageBuildErr != nil {
			return
		}
		cmd := strings.Join(run.CmdLine, " ")
		outDir := filepath.Dir(regexp.MustCompile(`-o (\S+)`).FindStringSubmatch(cmd)[1])
		steps := []string{cmd}
		for _, r := range commandsOf[*instructions.RunCommand](build) {
			if line := strings.Join(r.CmdLine, " "); strings.HasPrefix(line, "ln ") {
				steps = append(steps, line)
			}
		}
		for _, step := range steps {
			if !strings.Contains(step, outDir+"/") {
				imageBuildErr = fmt.Errorf("cannot move the output of %q", step)
				return
			}
			sh := exec.Command("sh", "-ec", strings.ReplaceAll(step, outDir+"/", imageDir+"/"))
			sh.Dir = repo
			// ARGs are environment variables of RUN.
			sh.Env = append(os.Environ(), "VERSION=9.8.7", "GIT_BUILD_HASH=deadbee")
			if out, err := sh.CombinedOutput(); err != nil {
				imageBuildErr = fmt.Errorf("%s: %v\n%s", step, err, out)
				return
			}
		}
	})
	if imageBuildErr != nil {
		t.Fatal(imageBuildErr)
	}
	return imageDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if imageDir != "" {
		os.RemoveAll(imageDir)
	}
	os.Exit(code)
}

// The same build command the image uses succeeds here and gives a static
// binary that reports the injected version and build hash, at / and /proxy.
func TestDockerfileBuildCommand(t *testing.T) {
	dir := imageBinary(t)
	f, err := elf.Open(filepath.Join(dir, "outpost"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary asks for a dynamic loader: not static")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary needs %v: not static", libs)
	}
	for _, name := range []string{"outpost", "proxy"} {
		t.Run(name, func(t *testing.T) {
			out, err := exec.Command(filepath.Join(dir, name), "version").CombinedOutput()
			if err != nil {
				t.Fatalf("%s version: %v\n%s", name, err, out)
			}
			for _, want := range []string{"9.8.7", "deadbee", runtime.Version()} {
				if !strings.Contains(string(out), want) {
					t.Errorf("%s version = %q, want %q in it", name, out, want)
				}
			}
		})
	}
}

// `make build` gives a static binary whose version shows version, commit
// and Go version.
func TestMakeBuild(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	bin := filepath.Join(t.TempDir(), "outpost")
	mk := exec.Command("make", "-s", "build", "OUT="+bin, "VERSION=1.2.3", "COMMIT=c0ffee1")
	mk.Dir = repo
	if out, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("make build: %v\n%s", err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 || slices.ContainsFunc(f.Progs, func(p *elf.Prog) bool { return p.Type == elf.PT_INTERP }) {
		t.Errorf("make build: not a static binary (needs %v)", libs)
	}
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("outpost 1.2.3 (commit c0ffee1, %s %s/%s)\n", runtime.Version(), runtime.GOOS, runtime.GOARCH); string(out) != want {
		t.Errorf("version = %q, want %q", out, want)
	}
}

// .dockerignore keeps .git and build output out of the context, and
// nothing the build needs: every Go and embedded file of the binary's
// packages, go.mod and go.sum.
func TestDockerignore(t *testing.T) {
	f, err := os.Open(filepath.Join(repo, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatal(err)
	}
	excluded := func(p string) bool {
		m, err := pm.MatchesOrParentMatches(filepath.ToSlash(p))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	for _, p := range []string{".git", ".git/config", "bin/outpost"} {
		if !excluded(p) {
			t.Errorf("%s is sent to the Docker build", p)
		}
	}
	list := exec.Command("go", "list", "-deps", "-f", `{{if .Module}}{{if .Module.Main}}{{.Dir}}{{range .GoFiles}} {{.}}{{end}}{{range .EmbedFiles}} {{.}}{{end}}{{end}}{{end}}`, "./cmd/outpost")
	list.Dir = repo
	out, err := list.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	root, _ := filepath.Abs(repo)
	needed := []string{"go.mod", "go.sum"}
	for line := range strings.Lines(string(out)) {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		dir, _ := filepath.Rel(root, fields[0])
		for _, f := range fields[1:] {
			needed = append(needed, filepath.Join(dir, f))
		}
	}
	if len(needed) < 20 {
		t.Fatalf("only %d files found for the build: %v", len(needed), needed)
	}
	for _, p := range needed {
		if excluded(p) {
			t.Errorf("%s is needed by the build but .dockerignore leaves it out", p)
		}
	}
}
