// Package nodeissuer runs a third-party OpenID Connect provider for tests:
// npm's oidc-provider, a certified implementation the outpost's code shares
// nothing with, pinned to one version. scripts/install-test-deps.sh installs
// it (and Node.js from Debian when missing) into Dir; a test run without it
// installs it there itself with npm.
package nodeissuer

import (
	"bufio"
	_ "embed"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Version is the oidc-provider release the tests run.
const Version = "9.13.3"

//go:embed issuer.mjs
var script []byte

// Dir is where oidc-provider is installed: OUTPOST_TEST_NODE_DIR, else a
// cache directory under the user's (the same one install-test-deps.sh uses).
func Dir() string {
	if d := os.Getenv("OUTPOST_TEST_NODE_DIR"); d != "" {
		return d
	}
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	return filepath.Join(base, "outpost-test", "oidc-provider-"+Version)
}

var installMu sync.Mutex

// ensureInstalled makes sure Dir holds oidc-provider, running npm when it
// does not. Without node or npm the test fails: skipping would hide it.
func ensureInstalled(t testing.TB) string {
	t.Helper()
	installMu.Lock()
	defer installMu.Unlock()
	dir := Dir()
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "oidc-provider", "package.json")); err == nil {
		return dir
	}
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: run scripts/install-test-deps.sh (it installs Node.js and oidc-provider@%s)", tool, Version)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("npm", "install", "--prefix", dir, "--no-audit", "--no-fund", "--ignore-scripts", "oidc-provider@"+Version)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm install oidc-provider@%s into %s: %v\n%s", Version, dir, err, out)
	}
	return dir
}

// Start runs oidc-provider on 127.0.0.1 with one confidential client whose
// only redirect URI is redirectURI, and returns its issuer URL. Any login
// name signs in with any password; names starting with "ops-" are in the
// group ops (the groups claim, from userinfo).
func Start(t testing.TB, clientID, clientSecret, redirectURI string) string {
	t.Helper()
	return StartWithTokenTTL(t, clientID, clientSecret, redirectURI, 0)
}

// StartWithTokenTTL is Start with access and ID tokens that live ttl
// (whole seconds; 0: oidc-provider's defaults), and, when ttl is set, a
// refresh token with every sign-in, as Dex gives with offline_access.
func StartWithTokenTTL(t testing.TB, clientID, clientSecret, redirectURI string, ttl time.Duration) string {
	t.Helper()
	dir := ensureInstalled(t)
	// The script must sit next to node_modules for node to find the package.
	f, err := os.CreateTemp(dir, "issuer-*.mjs")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(script); err != nil {
		t.Fatal(err)
	}
	f.Close()
	t.Cleanup(func() { os.Remove(f.Name()) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()

	cmd := exec.Command("node", f.Name(), port, clientID, clientSecret, redirectURI, fmt.Sprint(int(ttl.Seconds())))
	cmd.Dir = dir
	stdout, _ := cmd.StdoutPipe()
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	listening := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if l, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
				listening <- l
			}
		}
	}()
	select {
	case issuer := <-listening:
		return issuer
	case <-time.After(30 * time.Second):
		t.Fatalf("oidc-provider did not start within 30 s:\n%s", stderr.String())
	}
	return ""
}

// lockedBuffer is stderr, written by exec's copier while a test may read it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
