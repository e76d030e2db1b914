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
	"errors"
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
	d, err := binDir()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func binDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("postgres"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Dir(real), nil
		}
	}
	return "", errors.New("no PostgreSQL server found: install Debian's postgresql package (make test does, through scripts/install-test-deps.sh)")
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// Start runs a fresh server on a free port, with User owning Database; it
// is stopped and its files removed at cleanup.
func Start(t testing.TB) *Server {
	t.Helper()
	var s *Server
	var err error
	for range 5 {
		if s, err = Launch(proctest.FreePort(t)); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	s.t = t
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("postgres said:\n%s", s.output())
		}
	})
	return s
}

// Launch is Start outside a test (the load benchmark): a fresh server on
// port, with User owning Database, in a temporary directory that Stop
// removes.
func Launch(port int) (*Server, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	cred, err := credential()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin, cred: cred, dir: dir, port: port, logs: &proctest.Buffer{}}
	if err := s.initAndRun(); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

func (s *Server) initAndRun() error {
	if s.cred != nil {
		if err := os.Chown(s.dir, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			return err
		}
	}
	pwfile := filepath.Join(s.dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(superPassword+"\n"), 0o600); err != nil {
		return err
	}
	if s.cred != nil {
		_ = os.Chown(pwfile, int(s.cred.Uid), int(s.cred.Gid))
	}
	initdb := s.command(filepath.Join(s.bin, "initdb"), "-D", s.dataDir(), "-U", superuser, "--pwfile", pwfile,
		"-A", "scram-sha-256", "-E", "UTF8", "--locale", "C", "--no-sync", "--no-instructions")
	if out, err := initdb.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %v\n%s", err, out)
	}
	_ = os.Remove(pwfile)
	if err := s.run(); err != nil {
		return fmt.Errorf("starting postgres: %w", err)
	}
	return s.exec("postgres", "CREATE ROLE "+User+" LOGIN PASSWORD '"+Password+"'", "CREATE DATABASE "+Database+" OWNER "+User)
}

// Stop kills the server and removes its files.
func (s *Server) Stop() {
	s.Kill()
	_ = os.RemoveAll(s.dir)
}

// credential is the postgres user's when we are root, else nil.
func credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, and PostgreSQL refuses root: no postgres user to run it as (Debian's postgresql package creates it): %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
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

// Exec runs statements as the superuser in database db, failing the test
// on an error: to look at or change what a store wrote behind its back.
func (s *Server) Exec(t testing.TB, db string, stmts ...string) {
	t.Helper()
	if err := s.exec(db, stmts...); err != nil {
		t.Fatal(err)
	}
}

func (s *Server) exec(db string, stmts ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, s.superURL(db))
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	for _, q := range stmts {
		if _, err := c.Exec(ctx, q); err != nil {
			return fmt.Errorf("%s: %v", q, err)
		}
	}
	return nil
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
