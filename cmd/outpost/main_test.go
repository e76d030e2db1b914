package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/outpost-dev/outpost/internal/proctest"
)

// These tests run the real binary, as an operator or a container runtime
// would, and look only at what it prints, serves and exits with.

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "outpost-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "outpost")
	build := exec.Command("go", "build", "-race", "-ldflags", "-X main.buildHash=testbuild", "-o", binary, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the outpost binary:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freeAddr returns a 127.0.0.1 address nobody listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	return proctest.FreeAddr(t)
}

// process is a running outpost binary with its output captured.
type process struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	out    bytes.Buffer
	lines  chan string
	exited chan error
}

func start(t *testing.T, env []string, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(binary, args...), lines: make(chan string, 1000), exited: make(chan error, 1)}
	// HTTPS on a free loopback port unless the test names one: the default
	// 0.0.0.0:9443 would collide between concurrent test runs.
	p.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "AUTHENTIK_LISTEN__HTTPS=127.0.0.1:0"}, env...)
	stdout, _ := p.cmd.StdoutPipe()
	stderr, _ := p.cmd.StderrPipe()
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, r := range []io.Reader{stdout, stderr} {
		wg.Add(1)
		go func(r io.Reader) {
			defer wg.Done()
			sc := bufio.NewScanner(r)
			for sc.Scan() {
				p.mu.Lock()
				p.out.WriteString(sc.Text() + "\n")
				p.mu.Unlock()
				select {
				case p.lines <- sc.Text():
				default:
				}
			}
		}(r)
	}
	go func() { wg.Wait(); p.exited <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("output of %v:\n%s", args, p.output())
		}
	})
	return p
}

func (p *process) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// waitFor waits until a line containing want was printed and returns it.
func (p *process) waitFor(t *testing.T, want string, timeout time.Duration) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case l := <-p.lines:
			if strings.Contains(l, want) {
				return l
			}
		case err := <-p.exited:
			p.exited <- err
			t.Fatalf("exited (%v) before printing %q", err, want)
		case <-deadline:
			t.Fatalf("no line containing %q within %s", want, timeout)
		}
	}
}

// waitOutput waits until the output so far contains want, whether or not
// waitFor has already read past that line. Log lines reach the output up
// to 10 ms after they are logged (the log buffer), so a line logged
// before a banner printed on stdout may still arrive after it.
func (p *process) waitOutput(t *testing.T, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(p.output(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("output lacks %q after %s:\n%s", want, timeout, p.output())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (p *process) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.exited:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(timeout):
		t.Fatalf("still running after %s", timeout)
	}
	return -1
}

// get does one request as a browser loading a page, without following
// redirects; for a redirect the body returned is the Location.
func get(t *testing.T, url, host string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Accept", "text/html")
	if host != "" {
		req.Host = host
	}
	client := &http.Client{Timeout: 20 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if loc := resp.Header.Get("Location"); loc != "" {
		return resp.StatusCode, loc
	}
	return resp.StatusCode, string(b)
}

func waitHTTP(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never answered", url)
}

const standaloneYAML = `outpost:
  name: standalone-test
providers:
  - name: prom
    external_host: http://prom.test
    internal_host: http://127.0.0.1:1
    issuer: https://id.example.invalid/
    client_id: prom
    client_secret: s
    cookie_secret: 0123456789abcdef
`

func TestStandaloneServeReloadAndSignals(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "providers.yaml")
	if err := os.WriteFile(cfg, []byte(standaloneYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	httpAddr, secondHTTP, metricsAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	// The newer comma-list form: the outpost serves on every address.
	env := []string{"AUTHENTIK_LISTEN__HTTP=" + httpAddr + "," + secondHTTP, "AUTHENTIK_LISTEN__METRICS=" + metricsAddr}
	p := start(t, env, "--config", cfg)
	p.waitFor(t, "configuration in force", 30*time.Second)
	waitHTTP(t, "http://"+metricsAddr+"/outpost.goauthentik.io/ping")
	if code, _ := get(t, "http://"+secondHTTP+"/outpost.goauthentik.io/ping", ""); code != 204 {
		t.Errorf("ping on the second HTTP address: %d", code)
	}

	if code, _ := get(t, "http://"+httpAddr+"/outpost.goauthentik.io/ping", "any.host"); code != 204 {
		t.Errorf("ping on the main listener: %d", code)
	}
	// An unauthenticated browser is sent to sign in, keeping its URL.
	if code, loc := get(t, "http://"+httpAddr+"/graph?g0.expr=up", "prom.test"); code != 302 ||
		loc != "http://prom.test/outpost.goauthentik.io/start?rd=http%3A%2F%2Fprom.test%2Fgraph%3Fg0.expr%3Dup" {
		t.Errorf("app request: %d %q", code, loc)
	}
	// The issuer cannot be reached: a clear page, not a hang or a pass.
	if code, body := get(t, "http://"+httpAddr+"/outpost.goauthentik.io/start", "prom.test"); code != 502 || !strings.Contains(body, "identity provider could not be reached") {
		t.Errorf("start with the issuer down: %d %q", code, body)
	}
	// Headers past the limit are refused before anything reads them.
	req, _ := http.NewRequest("GET", "http://"+httpAddr+"/", nil)
	req.Host = "prom.test"
	req.Header.Set("Cookie", "x="+strings.Repeat("a", 100<<10))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("100 KiB of headers: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	_, metrics := get(t, "http://"+metricsAddr+"/metrics", "")
	if !strings.Contains(metrics, `authentik_outpost_info{build="testbuild",outpost_name="standalone-test",outpost_type="proxy"`) {
		t.Errorf("metrics lack outpost info:\n%s", metrics)
	}

	// healthcheck follows AUTHENTIK_LISTEN__METRICS.
	hc := exec.Command(binary, "healthcheck")
	hc.Env = []string{"AUTHENTIK_LISTEN__METRICS=" + metricsAddr}
	if out, err := hc.CombinedOutput(); err != nil {
		t.Errorf("healthcheck against a live outpost: %v %s", err, out)
	}
	hc = exec.Command(binary, "healthcheck")
	hc.Env = []string{"AUTHENTIK_LISTEN__METRICS=" + freeAddr(t)}
	if err := hc.Run(); err == nil {
		t.Error("healthcheck passed with nothing listening")
	}

	// A second provider added to the file is served without a restart; two
	// providers means unknown hosts now get the 400 of spec §4.
	two := standaloneYAML + strings.ReplaceAll(strings.SplitN(standaloneYAML, "providers:\n", 2)[1], "prom", "graf")
	if err := os.WriteFile(cfg, []byte(two), 0o600); err != nil {
		t.Fatal(err)
	}
	p.waitFor(t, "configuration reloaded", 10*time.Second)
	if code, loc := get(t, "http://"+httpAddr+"/", "graf.test"); code != 302 || !strings.HasPrefix(loc, "http://graf.test/outpost.goauthentik.io/start") {
		t.Errorf("new provider: %d %q", code, loc)
	}
	if code, body := get(t, "http://"+httpAddr+"/", "nobody.test"); code != 400 || !strings.Contains(body, "No application is configured for nobody.test") {
		t.Errorf("unknown host: %d %q", code, body)
	}

	// A broken edit is reported with its line and the old config serves on.
	if err := os.WriteFile(cfg, []byte(two+"    mode: sideways\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	line := p.waitFor(t, "configuration reload failed", 10*time.Second)
	if !strings.Contains(line, "sideways") || !strings.Contains(line, "line ") {
		t.Errorf("reload error does not say where: %s", line)
	}
	if code, loc := get(t, "http://"+httpAddr+"/", "graf.test"); code != 302 || !strings.HasPrefix(loc, "http://graf.test/") {
		t.Errorf("last good config not kept: %d %q", code, loc)
	}

	if err := p.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	p.waitFor(t, "SIGUSR1", 10*time.Second)

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p.waitFor(t, "shutting down", 10*time.Second)
	if code := p.wait(t, 30*time.Second); code != 0 {
		t.Errorf("exit code after SIGTERM: %d", code)
	}
}

func TestStartupErrorsNameTheProblem(t *testing.T) {
	cases := []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"no host", nil, nil, "AUTHENTIK_HOST"},
		{"no token", []string{"AUTHENTIK_HOST=http://127.0.0.1:1/"}, nil, "AUTHENTIK_TOKEN"},
		{"bad AUTHENTIK_INSECURE", []string{"AUTHENTIK_HOST=http://127.0.0.1:1/", "AUTHENTIK_TOKEN=t", "AUTHENTIK_INSECURE=maybe"}, nil, "AUTHENTIK_INSECURE"},
		{"bad log level", []string{"AUTHENTIK_HOST=http://127.0.0.1:1/", "AUTHENTIK_TOKEN=t", "AUTHENTIK_LOG_LEVEL=loud"}, nil, "AUTHENTIK_LOG_LEVEL"},
		{"missing config file", nil, []string{"--config", "/nonexistent/providers.yaml"}, "/nonexistent/providers.yaml"},
		{"unknown command", nil, []string{"nonsense"}, "unknown command"},
		{"unknown log format", []string{"AUTHENTIK_HOST=http://127.0.0.1:1/", "AUTHENTIK_TOKEN=t", "AUTHENTIK_LOG__FORMAT=xml"}, nil, `AUTHENTIK_LOG__FORMAT: unknown format "xml" (want json, text or authentik)`},
		{"Cookie as an additional header", []string{"OUTPOST_AUTH__ADDITIONAL_HEADERS=X-Role,Cookie"}, []string{"--config", "/nonexistent/providers.yaml"}, "OUTPOST_AUTH__ADDITIONAL_HEADERS: Cookie is a standard request header"},
		{"malformed resource attributes", []string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:1", "OTEL_RESOURCE_ATTRIBUTES=garbage"}, []string{"--config", "/nonexistent/providers.yaml"}, "OTEL_RESOURCE_ATTRIBUTES: want key=value pairs"},
		{"OTLP over JSON", []string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:1", "OTEL_EXPORTER_OTLP_PROTOCOL=http/json"}, []string{"--config", "/nonexistent/providers.yaml"}, `OTEL_EXPORTER_OTLP_PROTOCOL: "http/json" is not supported`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(binary, tc.args...)
			cmd.Env = append(tc.env, "AUTHENTIK_LISTEN__HTTP="+freeAddr(t), "AUTHENTIK_LISTEN__METRICS="+freeAddr(t))
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Errorf("%v %v: started, want a failure naming %s", tc.env, tc.args, tc.want)
				return
			}
			if !strings.Contains(string(out), tc.want) {
				t.Errorf("%v %v: output does not name %s:\n%s", tc.env, tc.args, tc.want, out)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	out, err := exec.Command(binary, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^outpost \S+ \(commit testbuild, go1\.\d+`).Match(out) {
		t.Errorf("version output: %q", out)
	}
}

func TestHashPassword(t *testing.T) {
	cmd := exec.Command(binary, "hash-password")
	cmd.Stdin = strings.NewReader("correct horse\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(out), "$2a$") || strings.Contains(string(out), "correct horse") {
		t.Errorf("hash-password printed %q", out)
	}
}

func TestDemo(t *testing.T) {
	httpAddr, metricsAddr, coreAddr, upAddr := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	p := start(t, nil, "demo", "--listen", httpAddr, "--metrics", metricsAddr, "--core", coreAddr, "--upstream", upAddr)
	p.waitFor(t, "Press Ctrl-C", 60*time.Second)
	out := p.output()
	_, port, _ := net.SplitHostPort(httpAddr)
	for _, want := range []string{"provider whoami", "http://localhost:" + port + "/", "demo / " + demoPassword} {
		if !strings.Contains(out, want) {
			t.Errorf("banner lacks %q:\n%s", want, out)
		}
	}
	if code, _ := get(t, "http://"+httpAddr+"/outpost.goauthentik.io/ping", ""); code != 204 {
		t.Errorf("ping: %d", code)
	}
	// The whoami upstream itself answers.
	if code, body := get(t, "http://"+upAddr+"/hello", ""); code != 200 || !strings.Contains(body, "GET /hello") {
		t.Errorf("whoami: %d %q", code, body)
	}

	// The core sees the outpost connected, and the outpost says so too.
	token := regexp.MustCompile(`Bearer ([0-9a-f]+)`).FindStringSubmatch(out)
	if token == nil {
		t.Fatalf("no core token in banner:\n%s", out)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		req, _ := http.NewRequest("GET", "http://"+coreAddr+"/api/devcore/status", nil)
		req.Header.Set("Authorization", "Bearer "+token[1])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var status struct {
			Outposts []struct {
				Name      string
				Instances []struct {
					Connected bool
					Hello     map[string]any
				}
			}
		}
		err = json.NewDecoder(resp.Body).Decode(&status)
		resp.Body.Close()
		if err == nil && len(status.Outposts) == 1 && len(status.Outposts[0].Instances) == 1 &&
			status.Outposts[0].Instances[0].Connected && status.Outposts[0].Instances[0].Hello["version"] == version {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("core never saw the outpost connected: %+v (%v)", status, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	_, metrics := get(t, "http://"+metricsAddr+"/metrics", "")
	if !regexp.MustCompile(`authentik_outpost_connection\{outpost_name="demo-outpost",outpost_type="proxy",uuid="[0-9a-f-]{36}"\} 1`).MatchString(metrics) {
		t.Errorf("connection gauge not 1:\n%s", metrics)
	}

	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t, 30*time.Second); code != 0 {
		t.Errorf("demo exit code after SIGINT: %d", code)
	}
}

const devcoreYAML = `outposts:
  - pk: 7d4f3a10-2b8e-4c61-9f25-8a0e6b7c5d43
    name: file-outpost
    token: file-outpost-token
    providers: [a, c]
providers:
  - name: a
    external_host: http://a.test
    internal_host: http://127.0.0.1:1
    client_id: a
    client_secret: a-secret-0123456789abcdef0123456789
    cookie_secret: a-cookie-0123456789
  - name: b
    external_host: http://b.test
    internal_host: http://127.0.0.1:1
    client_id: b
    client_secret: b-secret-0123456789abcdef0123456789
    cookie_secret: b-cookie-0123456789
  - name: c
    external_host: http://c.test
    internal_host: http://127.0.0.1:1
    client_id: c
    client_secret: c-secret-0123456789abcdef0123456789
    cookie_secret: c-cookie-0123456789
`

// An operator edits the stand-in core's file; the running outpost serves the
// change within the core's trigger window (0-9 s), with no restart.
func TestDevcoreFileChangeReachesOutpost(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "core.yaml")
	if err := os.WriteFile(cfg, []byte(devcoreYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	coreAddr := freeAddr(t)
	core := start(t, nil, "devcore", "--config", cfg, "--listen", coreAddr)
	core.waitFor(t, "devcore listening", 30*time.Second)
	out, httpAddr := startOutpostOn(t, coreAddr)
	if code, body := get(t, "http://"+httpAddr+"/", "b.test"); code != 400 || !strings.Contains(body, "No application is configured for b.test") {
		t.Fatalf("b.test before the edit: %d %q", code, body)
	}

	edited := strings.Replace(devcoreYAML, "providers: [a, c]", "providers: [a, b, c]", 1)
	if err := os.WriteFile(cfg, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	changed := time.Now()
	for {
		code, loc := get(t, "http://"+httpAddr+"/", "b.test")
		if code == 302 && strings.HasPrefix(loc, "http://b.test/outpost.goauthentik.io/start") {
			break
		}
		// 9 s of HA offset, plus the file watcher's settle time and the
		// refresh itself.
		if time.Since(changed) > 15*time.Second {
			t.Fatalf("b.test still not served 15 s after the edit: %d %q", code, loc)
		}
		time.Sleep(100 * time.Millisecond)
	}

	if err := out.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := out.wait(t, 30*time.Second); code != 0 {
		t.Errorf("outpost exit code: %d", code)
	}
	if err := core.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := core.wait(t, 30*time.Second); code != 0 {
		t.Errorf("devcore exit code: %d", code)
	}
}
