package soak

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/outpost-dev/outpost/internal/nginxtest"
	"github.com/outpost-dev/outpost/internal/proctest"
	"golang.org/x/crypto/bcrypt"
)

const (
	outpostToken = "soak-outpost-token-0123456789abcdef"
	password     = "soak-password"
	users        = 8
	// extraProviders is the size of the configuration swapped in and out.
	extraProviders = 1000
)

// world is everything one store's soak runs: the devcore, two replicas,
// nginx in front of them, the recording upstream.
type world struct {
	t        *testing.T
	bin, dir string
	storeEnv []string

	coreAddr, coreFile string
	core               *process
	replicas           [2]*process
	lbAddr             string
	upstream           *recorder
}

// outpostBinary builds the outpost once per test binary.
var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

func outpostBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "outpost-soak-bin")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "outpost")
		out, err := exec.Command("go", "build", "-o", builtBin, "../cmd/outpost").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

func newWorld(t *testing.T, storeEnv []string) *world {
	w := &world{t: t, bin: outpostBinary(t), dir: t.TempDir(), storeEnv: storeEnv}
	w.upstream = startRecorder(t, proctest.FreeAddr(t))
	w.lbAddr = proctest.FreeAddr(t)
	w.coreAddr = proctest.FreeAddr(t)
	w.coreFile = filepath.Join(w.dir, "core.yaml")
	w.writeCoreConfig(0)
	w.core = w.start("devcore", nil, "devcore", "--config", w.coreFile, "--listen", w.coreAddr)
	proctest.WaitTCP(t, "devcore", w.coreAddr, 30*time.Second)
	for i := range w.replicas {
		httpAddr, metrics := proctest.FreeAddr(t), proctest.FreeAddr(t)
		env := append([]string{
			"AUTHENTIK_HOST=http://" + w.coreAddr + "/",
			"AUTHENTIK_TOKEN=" + outpostToken,
			"AUTHENTIK_LISTEN__HTTP=" + httpAddr,
			"AUTHENTIK_LISTEN__HTTPS=127.0.0.1:0",
			"AUTHENTIK_LISTEN__METRICS=" + metrics,
			"AUTHENTIK_LOG_LEVEL=warning",
		}, storeEnv...)
		w.replicas[i] = w.start(fmt.Sprintf("replica-%d", i), env, "serve")
		w.replicas[i].httpAddr, w.replicas[i].metricsAddr = httpAddr, metrics
	}
	for _, r := range w.replicas {
		r.waitReady(t, 60*time.Second)
	}
	w.startNginx()
	return w
}

// writeCoreConfig writes the devcore's file: the app (proxy mode, public
// under /public/), and with batch > 0, extraProviders more, named for that
// batch (batch 1 is p00001–p01000, batch 2 p01001–p02000). The devcore
// sees the change and tells the outposts (TRIGGER_UPDATE).
func (w *world) writeCoreConfig(batch int) {
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		w.t.Fatal(err)
	}
	// Two providers always: with one, the outpost serves it on any host
	// (as authentik's does), and the swap could not be seen.
	names := []string{"app", "other"}
	var extra strings.Builder
	for k := 1; batch > 0 && k <= extraProviders; k++ {
		i := (batch-1)*extraProviders + k
		names = append(names, fmt.Sprintf("p%05d", i))
		fmt.Fprintf(&extra, `  - name: p%05d
    external_host: http://%s
    internal_host: http://%s
    client_id: p%05d-client
    client_secret: p%05d-client-secret-0123456789abcdef0123456789
    cookie_secret: p%05d-cookie-secret-0123456789abcdef
`, i, extraHost(batch, k), w.upstream.addr, i, i, i)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `admin_token: soak-admin-token-0123456789
outposts:
  - pk: 3f6c2a9e-8d41-4b7a-9e05-6a1d2c3b4f50
    name: soak-outpost
    token: %s
    config: {log_level: warning}
    providers: [%s]
providers:
  - name: app
    mode: proxy
    external_host: http://%s
    internal_host: http://%s
    client_id: app-client
    client_secret: app-client-secret-0123456789abcdef0123456789
    cookie_secret: app-cookie-secret-0123456789abcdef
    access_token_validity: 86400
    skip_path_regex: |-
      ^/public/
  - name: other
    external_host: http://other.soak.test
    internal_host: http://%s
    client_id: other-client
    client_secret: other-client-secret-0123456789abcdef0123456789
    cookie_secret: other-cookie-secret-0123456789abcdef
%susers:
`, outpostToken, strings.Join(names, ", "), w.lbAddr, w.upstream.addr, w.upstream.addr, extra.String())
	for i := range users {
		fmt.Fprintf(&b, "  - username: %s\n    password_hash: %q\n    email: %s@example.com\n    name: Soak Person %d\n", userName(i), hash, userName(i), i)
	}
	tmp := w.coreFile + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		w.t.Fatal(err)
	}
	if err := os.Rename(tmp, w.coreFile); err != nil {
		w.t.Fatal(err)
	}
}

func userName(i int) string { return fmt.Sprintf("soak%02d", i) }

// extraHost is the host of batch's i-th extra provider (from 1).
func extraHost(batch, i int) string {
	return fmt.Sprintf("p%05d.soak.test", (batch-1)*extraProviders+i)
}

// startNginx runs nginx as the replicas' load balancer: round robin, no
// stickiness, and on a connection error (a replica restarting) the request
// goes to the other one, as a load balancer does. A replica's 5xx is
// passed on, not retried: the soak must see them.
func (w *world) startNginx() {
	dir := filepath.Join(w.dir, "nginx")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		w.t.Fatal(err)
	}
	conf := nginxtest.Config(dir, dir+"/error.log", 4096, fmt.Sprintf(`    upstream outposts { server %[1]s; server %[2]s; keepalive 32; }
    server {
        listen %[3]s;
        location / {
            proxy_pass http://outposts;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_connect_timeout 1s;
            proxy_read_timeout 30s;
            proxy_next_upstream error timeout;
        }
    }
`, w.replicas[0].httpAddr, w.replicas[1].httpAddr, w.lbAddr))
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		w.t.Fatal(err)
	}
	bin := nginxBinary(w.t)
	proctest.Start(w.t, "nginx", exec.Command(bin, "-p", dir, "-c", path))
	proctest.WaitTCP(w.t, "nginx", w.lbAddr, 10*time.Second)
}

func nginxBinary(t *testing.T) string {
	bin, err := nginxtest.Binary()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// process is one of the outpost binary's processes, restartable.
type process struct {
	name                  string
	bin                   string
	env, args             []string
	httpAddr, metricsAddr string
	mu                    sync.Mutex
	cmd                   *exec.Cmd
	out                   *proctest.Buffer
	t                     *testing.T
}

func (w *world) start(name string, env []string, args ...string) *process {
	p := &process{name: name, bin: w.bin, env: env, args: args, t: w.t}
	p.run()
	return p
}

func (p *process) run() {
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env = append(os.Environ(), p.env...)
	out := proctest.Start(p.t, p.name, cmd)
	p.mu.Lock()
	p.cmd, p.out = cmd, out
	p.mu.Unlock()
}

func (p *process) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd.Process.Pid
}

// stop sends SIGTERM and waits for the exit (the outpost drains; the
// devcore closes its websockets with 1012).
func (p *process) stop() {
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		p.t.Errorf("%s did not exit within 30 s of SIGTERM", p.name)
		_ = cmd.Process.Kill()
		<-done
	}
}

func (p *process) signal(s syscall.Signal) { _ = syscall.Kill(p.pid(), s) }

// waitReady polls the replica's readiness endpoint.
func (p *process) waitReady(t *testing.T, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get("http://" + p.metricsAddr + "/outpost.goauthentik.io/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready within %s: %v\n%s", p.name, timeout, err, p.out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// rssMB is the process's resident memory.
func (p *process) rssMB() float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.pid()))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}

// goroutines is the replica's go_goroutines metric.
func (p *process) goroutines() int {
	resp, err := http.Get("http://" + p.metricsAddr + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "go_goroutines "); ok {
			n, _ := strconv.ParseFloat(v, 64)
			return int(n)
		}
	}
	return -1
}

// recorder is the app: it answers "ok <user>" and counts every request
// on a protected path that arrived without the identity it should carry.
// A soak client names itself in X-Soak-Client ("anonymous" when it has no
// session); the outpost passes that header on untouched.
type recorder struct {
	addr       string
	mu         sync.Mutex
	srv        *http.Server
	served     atomic.Int64
	violations atomic.Int64
	samples    []string
}

func startRecorder(t *testing.T, addr string) *recorder {
	r := &recorder{addr: addr}
	r.up(t)
	t.Cleanup(r.down)
	return r
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.served.Add(1)
	user := req.Header.Get("X-Authentik-Username")
	client := req.Header.Get("X-Soak-Client")
	protected := !strings.HasPrefix(req.URL.Path, "/public/")
	if protected && (user == "" || (client != "" && client != user)) {
		r.violations.Add(1)
		r.mu.Lock()
		if len(r.samples) < 10 {
			r.samples = append(r.samples, fmt.Sprintf("%s %s as %q from client %q", req.Method, req.URL.Path, user, client))
		}
		r.mu.Unlock()
	}
	_, _ = io.WriteString(w, "ok "+user)
}

// up listens again on the same address (the port may linger briefly).
func (r *recorder) up(t *testing.T) {
	var ln net.Listener
	var err error
	for range 50 {
		if ln, err = net.Listen("tcp", r.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("upstream: %v", err)
	}
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	r.mu.Lock()
	r.srv = srv
	r.mu.Unlock()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("upstream: %v", err)
		}
	}()
}

// down closes the listener and every connection at once: the app is gone.
func (r *recorder) down() {
	r.mu.Lock()
	srv := r.srv
	r.mu.Unlock()
	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		defer cancel()
		_ = srv.Shutdown(ctx)
		_ = srv.Close()
	}
}

// connections counts the process's established TCP connections: those a
// client opened to its port (net/http serves each with a goroutine) and
// those it opened to one of clientPorts (the app, the core: a transport
// runs two goroutines for each). /proc/net/tcp lists every socket of the
// network namespace; the process's own are those whose inode is among its
// open files.
func (p *process) connections(port int, clientPorts ...int) (served, client int) {
	pid := p.pid()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0, 0
	}
	mine := map[string]bool{}
	for _, fd := range fds {
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if inode, ok := strings.CutPrefix(link, "socket:["); ok && err == nil {
			mine[strings.TrimSuffix(inode, "]")] = true
		}
	}
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return 0, 0
	}
	// /proc/net/tcp writes addresses as hex ip:port.
	hexPort := func(addr string) int {
		_, hex, _ := strings.Cut(addr, ":")
		n, _ := strconv.ParseInt(hex, 16, 32)
		return int(n)
	}
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 10 || f[3] != "01" || !mine[f[9]] {
			continue
		}
		switch {
		case hexPort(f[1]) == port:
			served++
		case slices.Contains(clientPorts, hexPort(f[2])):
			client++
		}
	}
	return served, client
}

// portOf is the port of host:port.
func portOf(addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(p)
	return n
}
