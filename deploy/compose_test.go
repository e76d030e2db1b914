package deploy

import (
	"context"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/outpost-dev/outpost/internal/devcore"
)

// loadCompose loads a compose file the way `docker compose` does (schema
// validation, interpolation, path resolution), with env as the shell's
// environment.
func loadCompose(t *testing.T, file string, env map[string]string) (*types.Project, error) {
	t.Helper()
	abs, err := filepath.Abs(filepath.Join(repo, file))
	if err != nil {
		t.Fatal(err)
	}
	return loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  filepath.Dir(abs),
		ConfigFiles: []types.ConfigFile{{Filename: abs}},
		Environment: env,
	})
}

var (
	goLiteralsOnce sync.Once
	goLiterals     map[string]bool
)

// inOutpost reports whether name appears as a string literal in the
// outpost's Go sources (tests excluded): the names it can read.
func inOutpost(t *testing.T, name string) bool {
	t.Helper()
	goLiteralsOnce.Do(func() {
		goLiterals = map[string]bool{}
		lit := regexp.MustCompile(`"([A-Z][A-Z0-9_]*)"`)
		_ = filepath.WalkDir(repo, func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && (d.Name() == ".git" || d.Name() == "node_modules") {
				return filepath.SkipDir
			}
			if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return nil
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			for _, m := range lit.FindAllSubmatch(b, -1) {
				goLiterals[string(m[1])] = true
			}
			return nil
		})
	})
	return goLiterals[name]
}

// usesOutpostImage reports whether a service runs the image built from
// this repository.
func usesOutpostImage(s types.ServiceConfig, root string) bool {
	if s.Build != nil {
		ctx, _ := filepath.Abs(s.Build.Context)
		return ctx == root
	}
	return strings.Contains(s.Image, "outpost")
}

// checkServices checks what every compose service must have, and that the
// outpost's environment names exist in the outpost.
func checkServices(t *testing.T, p *types.Project) {
	t.Helper()
	root, _ := filepath.Abs(repo)
	if len(p.Services) == 0 {
		t.Fatal("no services")
	}
	for name, s := range p.Services {
		if s.Image == "" && s.Build == nil {
			t.Errorf("service %s has neither image nor build", name)
		}
		if s.HealthCheck == nil || len(s.HealthCheck.Test) < 2 || s.HealthCheck.Disable {
			t.Errorf("service %s has no healthcheck", name)
		} else if s.HealthCheck.Test[0] != "CMD" {
			t.Errorf("service %s: healthcheck %v must be CMD form (the outpost's image has no shell)", name, s.HealthCheck.Test)
		}
		if len(s.Ports) == 0 && len(s.Expose) == 0 {
			t.Errorf("service %s neither publishes nor exposes a port", name)
		}
		for _, v := range s.Volumes {
			if v.Type == types.VolumeTypeBind {
				if _, err := os.Stat(v.Source); err != nil {
					t.Errorf("service %s mounts %s: %v", name, v.Source, err)
				}
			}
		}
		if !usesOutpostImage(s, root) {
			continue
		}
		for env := range s.Environment {
			if !inOutpost(t, env) {
				t.Errorf("service %s sets %s, which the outpost never reads", name, env)
			}
		}
		if hc := s.HealthCheck; hc != nil && len(hc.Test) > 2 && hc.Test[2] != "healthcheck" {
			t.Errorf("service %s: healthcheck %v does not run the healthcheck command", name, hc.Test)
		}
		if hc := s.HealthCheck; hc != nil && len(hc.Test) > 1 && !slices.Contains([]string{"/proxy", "/authentik", "/outpost"}, hc.Test[1]) {
			t.Errorf("service %s: healthcheck runs %s, which is not in the image", name, hc.Test[1])
		}
	}
}

func TestComposeDemo(t *testing.T) {
	p, err := loadCompose(t, "docker-compose.yml", map[string]string{})
	if err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	checkServices(t, p)
	for _, name := range []string{"devcore", "outpost", "whoami", "prometheus"} {
		if _, ok := p.Services[name]; !ok {
			t.Errorf("no %s service", name)
		}
	}
	out := p.Services["outpost"]
	published := map[uint32]string{}
	for _, port := range out.Ports {
		published[port.Target] = port.Published
	}
	for _, target := range []uint32{9000, 9443} {
		if published[target] == "" {
			t.Errorf("the outpost does not publish %d", target)
		}
	}
	// The apps are reachable only through the outpost.
	for _, name := range []string{"whoami", "prometheus"} {
		if ports := p.Services[name].Ports; len(ports) > 0 {
			t.Errorf("%s publishes %v: it would bypass the outpost", name, ports)
		}
	}

	// The outpost and the core agree: the core's file loads, the token is an
	// outpost's, its providers' upstreams are the compose services on their
	// exposed ports, and their external hosts are on the outpost's port.
	var coreFile string
	for _, v := range p.Services["devcore"].Volumes {
		if slices.Contains(p.Services["devcore"].Command, v.Target) {
			coreFile = v.Source
		}
	}
	if coreFile == "" {
		t.Fatalf("the devcore's --config is not a mounted file: %v", p.Services["devcore"].Command)
	}
	cfg, err := devcore.LoadConfig(coreFile)
	if err != nil {
		t.Fatalf("the devcore's configuration: %v", err)
	}
	token := out.Environment["AUTHENTIK_TOKEN"]
	if token == nil {
		t.Fatal("the outpost has no AUTHENTIK_TOKEN")
	}
	var providers []string
	for _, o := range cfg.Outposts {
		if o.Token == *token {
			providers = o.Providers
		}
	}
	if len(providers) == 0 {
		t.Fatal("the outpost's AUTHENTIK_TOKEN is no outpost's token in the core's file")
	}
	host := out.Environment["AUTHENTIK_HOST"]
	if u, err := url.Parse(deref(host)); err != nil || u.Hostname() != "devcore" {
		t.Errorf("AUTHENTIK_HOST %q does not name the devcore service", deref(host))
	} else if !hasPort(p.Services["devcore"], u.Port()) {
		t.Errorf("AUTHENTIK_HOST %q: the devcore does not serve port %s", deref(host), u.Port())
	}
	for _, pc := range cfg.Providers {
		if !slices.Contains(providers, pc.Name) {
			continue
		}
		in, err := url.Parse(pc.InternalHost)
		if err != nil {
			t.Fatal(err)
		}
		svc, ok := p.Services[in.Hostname()]
		if !ok || !hasPort(svc, in.Port()) {
			t.Errorf("provider %s: internal_host %s is no service's port", pc.Name, pc.InternalHost)
		}
		ext, _ := url.Parse(pc.ExternalHost)
		if published[9000] != ext.Port() {
			t.Errorf("provider %s: external_host %s is not on the outpost's published HTTP port %s", pc.Name, pc.ExternalHost, published[9000])
		}
		if !strings.HasSuffix(ext.Hostname(), ".localhost") && ext.Hostname() != "localhost" {
			t.Errorf("provider %s: external_host %s does not resolve to this machine in a browser", pc.Name, pc.ExternalHost)
		}
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// hasPort reports whether a service listens on port (exposed or published
// target), as its command or image says.
func hasPort(s types.ServiceConfig, port string) bool {
	if slices.Contains(s.Expose, port) {
		return true
	}
	for _, p := range s.Ports {
		if strconv.Itoa(int(p.Target)) == port {
			return true
		}
	}
	return false
}

func TestComposeAuthentik(t *testing.T) {
	const file = "deploy/compose/docker-compose.authentik.yml"
	// Without the core's URL and token it refuses to start, naming them.
	if _, err := loadCompose(t, file, map[string]string{}); err == nil || !strings.Contains(err.Error(), "AUTHENTIK_HOST") {
		t.Errorf("without AUTHENTIK_HOST: %v, want an error naming it", err)
	}
	p, err := loadCompose(t, file, map[string]string{
		"AUTHENTIK_HOST": "https://authentik.example.com/", "AUTHENTIK_TOKEN": "token",
	})
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	checkServices(t, p)
	out, ok := p.Services["outpost"]
	if !ok {
		t.Fatal("no outpost service")
	}
	for _, env := range []string{"AUTHENTIK_HOST", "AUTHENTIK_TOKEN"} {
		if v := out.Environment[env]; v == nil || *v == "" {
			t.Errorf("%s is not passed to the outpost", env)
		}
	}
	for _, port := range out.Ports {
		if port.Target == 9300 && port.HostIP != "127.0.0.1" {
			t.Errorf("metrics published on %q: keep them on 127.0.0.1", port.HostIP)
		}
	}
}

// The compose healthchecks of the devcore and whoami run `healthcheck URL`;
// it passes below 400 and fails otherwise.
func TestHealthcheckURL(t *testing.T) {
	bin := filepath.Join(imageBinary(t), "outpost")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newStatusServer(ln)
	defer srv.Close()
	base := "http://" + ln.Addr().String()
	for path, want := range map[string]int{"/ok": 0, "/missing": 1} {
		t.Run(path, func(t *testing.T) {
			code := runExit(t, bin, []string{"PATH=" + os.Getenv("PATH")}, "healthcheck", base+path)
			if code != want {
				t.Errorf("healthcheck %s: exit %d, want %d", path, code, want)
			}
		})
	}
	// Without a URL it asks the metrics listener, as before.
	code := runExit(t, bin, []string{"AUTHENTIK_LISTEN__METRICS=" + ln.Addr().String()}, "healthcheck")
	if code != 1 {
		t.Errorf("healthcheck against a server without ping: exit %d, want 1", code)
	}
}
