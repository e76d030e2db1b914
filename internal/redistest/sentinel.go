package redistest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// SentinelMaster is the name the sentinels StartSentinel runs monitor the
// master by.
const SentinelMaster = "outpost-master"

// Sentinel is a master and a replica watched by three sentinels (quorum
// 2), all on 127.0.0.1, with timeouts short enough for tests: a master is
// considered down after 1 s, and the replica promoted a moment later.
type Sentinel struct {
	t testing.TB
	// Nodes are the data nodes: Nodes[0] starts as the master, Nodes[1] as
	// its replica. Which is master now is MasterAddr's answer.
	Nodes [2]*Server
	// Sentinels are the three sentinel processes.
	Sentinels [3]*Server
	// Password is the data nodes' (requirepass and masterauth);
	// SentinelPassword the sentinels' own requirepass.
	Password, SentinelPassword string
}

// SentinelOptions vary what StartSentinel runs.
type SentinelOptions struct {
	// Password of the data nodes; SentinelPassword of the sentinels.
	Password, SentinelPassword string
}

// sentinelBinary finds redis-sentinel or fails the test with what to
// install.
func sentinelBinary(t testing.TB) string {
	t.Helper()
	if path, err := exec.LookPath("redis-sentinel"); err == nil {
		return path
	}
	t.Fatal("no redis-sentinel found: install Debian's redis-sentinel package (make test does, through scripts/install-test-deps.sh)")
	return ""
}

// StartSentinel runs the master, its replica and three sentinels, and
// returns once the replica is in sync and every sentinel knows the
// replica and the other two sentinels (only then can they fail over).
// Everything is stopped at cleanup.
func StartSentinel(t testing.TB, o SentinelOptions) *Sentinel {
	t.Helper()
	sbin := sentinelBinary(t)
	auth := func(pw string) []string {
		if pw == "" {
			return nil
		}
		return []string{"--masterauth", pw}
	}
	st := &Sentinel{t: t, Password: o.Password, SentinelPassword: o.SentinelPassword}
	st.Nodes[0] = StartWith(t, Options{Password: o.Password, ConfigFile: true, Args: auth(o.Password)})
	_, mport, _ := strings.Cut(st.Nodes[0].Addr(), ":")
	st.Nodes[1] = StartWith(t, Options{Password: o.Password, ConfigFile: true,
		Args: append([]string{"--replicaof", "127.0.0.1", mport}, auth(o.Password)...)})

	for i := range st.Sentinels {
		dir := t.TempDir()
		conf := []string{
			"daemonize no", "loglevel warning", "dir " + dir,
			fmt.Sprintf("sentinel monitor %s 127.0.0.1 %s 2", SentinelMaster, mport),
			"sentinel down-after-milliseconds " + SentinelMaster + " 1000",
			"sentinel failover-timeout " + SentinelMaster + " 5000",
			"sentinel parallel-syncs " + SentinelMaster + " 1",
		}
		if o.Password != "" {
			conf = append(conf, "sentinel auth-pass "+SentinelMaster+" "+o.Password)
		}
		if o.SentinelPassword != "" {
			conf = append(conf, "requirepass "+o.SentinelPassword, "sentinel sentinel-pass "+o.SentinelPassword)
		}
		path := filepath.Join(dir, "sentinel.conf")
		if err := os.WriteFile(path, []byte(strings.Join(conf, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		s := &Server{t: t, bin: sbin, dir: dir, Password: o.SentinelPassword, logs: &strings.Builder{}}
		// Sentinel rewrites its file with what it learns; a Restart
		// keeps that.
		s.argv = func() []string { return []string{path, "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1"} }
		s.start()
		st.Sentinels[i] = s
	}
	st.waitReady()
	return st
}

// Addrs are the sentinels' host:port.
func (st *Sentinel) Addrs() []string {
	out := make([]string, len(st.Sentinels))
	for i, s := range st.Sentinels {
		out[i] = s.Addr()
	}
	return out
}

// client speaks to sentinel i.
func (st *Sentinel) client(i int) *redis.SentinelClient {
	return redis.NewSentinelClient(&redis.Options{Addr: st.Sentinels[i].Addr(), Password: st.SentinelPassword, DialTimeout: time.Second, ReadTimeout: time.Second})
}

// MasterAddr is the master's host:port as the first sentinel that answers
// says.
func (st *Sentinel) MasterAddr() (string, error) {
	var last error
	for i := range st.Sentinels {
		c := st.client(i)
		addr, err := c.GetMasterAddrByName(context.Background(), SentinelMaster).Result()
		_ = c.Close()
		if err == nil && len(addr) == 2 {
			return addr[0] + ":" + addr[1], nil
		}
		last = err
	}
	return "", fmt.Errorf("no sentinel names a master: %v", last)
}

// Master is the data node that is master now.
func (st *Sentinel) Master() *Server {
	st.t.Helper()
	addr, err := st.MasterAddr()
	if err != nil {
		st.t.Fatal(err)
	}
	for _, n := range st.Nodes {
		if n.Addr() == addr {
			return n
		}
	}
	st.t.Fatalf("the sentinels name %s, which is none of the data nodes", addr)
	return nil
}

// WaitFailover waits until the sentinels name a master other than from
// and the node they name answers as master.
func (st *Sentinel) WaitFailover(from string, within time.Duration) *Server {
	st.t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if addr, err := st.MasterAddr(); err == nil && addr != from {
			for _, n := range st.Nodes {
				if n.Addr() == addr && n.role() == "master" {
					return n
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	st.t.Fatalf("no failover from %s within %s", from, within)
	return nil
}

// Sync waits until every running replica has what the master wrote so
// far (WAIT), so a failover loses nothing written before it.
func (st *Sentinel) Sync() {
	st.t.Helper()
	m := st.Master()
	c := redis.NewClient(&redis.Options{Addr: m.Addr(), Password: st.Password})
	defer c.Close()
	replicas := 0
	for _, n := range st.Nodes {
		if n != m && n.Running() {
			replicas++
		}
	}
	n, err := c.Wait(context.Background(), replicas, 5*time.Second).Result()
	if err != nil || int(n) < replicas {
		st.t.Fatalf("WAIT: %d of %d replicas in sync: %v", n, replicas, err)
	}
}

// Kill stops both data nodes at once, replica first so no failover can
// happen in between; the sentinels keep running.
func (st *Sentinel) Kill() {
	st.Nodes[1].Kill()
	st.Nodes[0].Kill()
}

// Restart starts both data nodes again with their data and waits until
// the sentinels see a master that answers and a replica in sync.
func (st *Sentinel) Restart() {
	st.t.Helper()
	st.Nodes[0].Restart()
	st.Nodes[1].Restart()
	st.waitReady()
}

// role is the node's replication role, "" when it does not answer.
func (s *Server) role() string {
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), Password: s.Password, DialTimeout: time.Second, ReadTimeout: time.Second, MaxRetries: -1})
	defer c.Close()
	info, err := c.Info(context.Background(), "replication").Result()
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "role:"); ok {
			return v
		}
	}
	return ""
}

// waitReady waits until the master answers as master, the replica is
// linked to it, and every sentinel knows the replica and two other
// sentinels.
func (st *Sentinel) waitReady() {
	st.t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(60 * time.Second)
	var why string
	for time.Now().Before(deadline) {
		why = st.notReady(ctx)
		if why == "" {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	st.t.Fatalf("sentinel set-up not ready within 60 s: %s", why)
}

func (st *Sentinel) notReady(ctx context.Context) string {
	addr, err := st.MasterAddr()
	if err != nil {
		return err.Error()
	}
	var master *Server
	for _, n := range st.Nodes {
		if n.Addr() == addr {
			master = n
		}
	}
	if master == nil || master.role() != "master" {
		return "master " + addr + " does not answer as master"
	}
	c := redis.NewClient(&redis.Options{Addr: addr, Password: st.Password, MaxRetries: -1})
	info, err := c.Info(ctx, "replication").Result()
	_ = c.Close()
	if err != nil || !strings.Contains(info, "connected_slaves:1") || !strings.Contains(info, "state=online") {
		return "the replica is not in sync with " + addr
	}
	for i := range st.Sentinels {
		sc := st.client(i)
		replicas, err1 := sc.Replicas(ctx, SentinelMaster).Result()
		sentinels, err2 := sc.Sentinels(ctx, SentinelMaster).Result()
		_ = sc.Close()
		if err1 != nil || err2 != nil || len(replicas) != 1 || len(sentinels) != 2 {
			return fmt.Sprintf("sentinel %d knows %d replicas and %d sentinels (%v, %v)", i, len(replicas), len(sentinels), err1, err2)
		}
		if flags := fmt.Sprint(replicas[0]["flags"]); strings.Contains(flags, "down") || strings.Contains(flags, "disconnected") {
			return fmt.Sprintf("sentinel %d sees the replica as %s", i, flags)
		}
	}
	return ""
}
