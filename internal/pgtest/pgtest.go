// Package pgtest runs a real PostgreSQL server (Debian's postgresql package,
// which scripts/install-test-deps.sh installs) on 127.0.0.1 for tests, from a
// fresh initdb in a temporary directory, and can kill and restart it to test
// failures.
//
// PostgreSQL refuses to run as root. When the tests run as root (as CI does),
// initdb and postgres run as the postgres user that Debian's package creates,
// through the process credentials of exec.Cmd; otherwise as the current user.
package pgtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/outpost-dev/outpost/internal/proctest"
)

// The role and database a test's store uses: not a superuser, as an
// operator's outpost role would not be. It owns its database, so it may
// create schemas there.
const (
	User     = "outpost_app"
	Password = "pgtest-app-pw"
	Database = "outpost_app"

	superuser     = "postgres"
	superPassword = "pgtest-super-pw"
)

// Server is one postgres process on 127.0.0.1. Its data directory outlives
// Kill, so Restart comes back with the data, as a production database
// would after a crash.
type Server struct {
	t    testing.TB
	bin  string // directory of initdb and postgres
	dir  string // owned by the server's user; removed at cleanup
	port int
	cred *syscall.Credential // nil: run as ourselves

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	logs *proctest.Buffer
}

// BinDir finds Debian's PostgreSQL binaries (the newest version installed)
// or fails the test with what to install.
func BinDir(t testing.TB) string {
	t.Helper()
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
			return d
		}
	}
	if p, err := exec.LookPath("postgres"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Dir(real)
		}
	}
	t.Fatal("no PostgreSQL server found: install Debian's postgresql package (make test does, through scripts/install-test-deps.sh)")
	return ""
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// Start runs a fresh server on a free port, with User owning Database; it
// is stopped and its files removed at cleanup.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{t: t, bin: BinDir(t), logs: &proctest.Buffer{}}
	s.cred = credential(t)
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		t.Fatal(err)
	}
	s.dir = dir
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if s.cred != nil {
		if err := os.Chown(dir, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	pwfile := filepath.Join(dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(superPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if s.cred != nil {
		_ = os.Chown(pwfile, int(s.cred.Uid), int(s.cred.Gid))
	}
	initdb := s.command(filepath.Join(s.bin, "initdb"), "-D", s.dataDir(), "-U", superuser, "--pwfile", pwfile,
		"-A", "scram-sha-256", "-E", "UTF8", "--locale", "C", "--no-sync", "--no-instructions")
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	_ = os.Remove(pwfile)
	for range 5 {
		s.port = proctest.FreePort(t)
		if err = s.run(); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("starting postgres: %v", err)
	}
	t.Cleanup(func() {
		s.Kill()
		if t.Failed() {
			t.Logf("postgres said:\n%s", s.output())
		}
	})
	s.super(t, "CREATE ROLE "+User+" LOGIN PASSWORD '"+Password+"'", "CREATE DATABASE "+Database+" OWNER "+User)
	return s
}

// credential is the postgres user's when we are root, else nil.
func credential(t testing.TB) *syscall.Credential {
	t.Helper()
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		t.Fatalf("running as root, and PostgreSQL refuses root: no postgres user to run it as (Debian's postgresql package creates it): %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
}

func (s *Server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = s.dir
	cmd.Env = []string{"LC_ALL=C", "PATH=/usr/bin:/bin", "HOME=" + s.dir}
	// Its own process group, so Kill takes the backends too; and killed
	// with the test binary, should that die first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: s.cred}
	return cmd
}

func (s *Server) dataDir() string { return filepath.Join(s.dir, "data") }

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host(), strconv.Itoa(s.port)) }

// Host is the address the server listens on.
func (s *Server) Host() string { return "127.0.0.1" }

// Port is its TCP port.
func (s *Server) Port() int { return s.port }

// URL is a postgres:// URL as User to Database.
func (s *Server) URL() string {
	return fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=disable", User, Password, s.Addr(), Database)
}

func (s *Server) run() error {
	cmd := s.command(filepath.Join(s.bin, "postgres"), "-D", s.dataDir(), "-p", strconv.Itoa(s.port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
		"-c", "fsync=off", "-c", "full_page_writes=off", "-c", "max_connections=200",
		"-c", "log_min_messages=warning", "-c", "log_min_error_statement=panic")
	cmd.Stdout, cmd.Stderr = s.logs, s.logs
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := s.ping()
		if err == nil {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("postgres exited: %s", s.output())
		default:
		}
		if time.Now().After(deadline) {
			s.Kill()
			return fmt.Errorf("postgres did not answer on %s (%v): %s", s.Addr(), err, s.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *Server) superURL(db string) string {
	return fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=disable&connect_timeout=2", superuser, superPassword, s.Addr(), db)
}

func (s *Server) ping() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, s.superURL("postgres"))
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	return c.Ping(ctx)
}

// super runs statements as the superuser in the postgres database.
func (s *Server) super(t testing.TB, stmts ...string) {
	t.Helper()
	s.Exec(t, "postgres", stmts...)
}

// Exec runs statements as the superuser in database db, failing the test
// on an error: to look at or change what a store wrote behind its back.
func (s *Server) Exec(t testing.TB, db string, stmts ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, s.superURL(db))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	for _, q := range stmts {
		if _, err := c.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// Query returns the first column of every row of q, as the superuser in
// Database, as text.
func (s *Server) Query(t testing.TB, q string, args ...any) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, s.superURL(Database))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	rows, err := c.Query(ctx, q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
		var v any
		if err := r.Scan(&v); err != nil {
			return "", err
		}
		return fmt.Sprint(v), nil
	})
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return out
}

func (s *Server) output() string { return s.logs.String() }

// Kill stops the server and its backends at once (SIGKILL to the process
// group), as a crash would; the data stays for Restart. Safe to call when
// it is not running.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-done
}

// Restart starts the server again on the same port, with its data (after
// crash recovery).
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	var err error
	for range 50 {
		if err = s.run(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond) // the port may linger briefly
	}
	s.t.Fatalf("restarting postgres: %v", err)
}
