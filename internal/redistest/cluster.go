package redistest

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Cluster is a Redis Cluster of three masters and no replicas on
// 127.0.0.1, created with redis-cli --cluster create. Each node keeps its
// cluster configuration (nodes.conf) and its data in its own directory, so
// Kill and Restart bring back the same cluster with its data.
type Cluster struct {
	t     testing.TB
	Nodes []*Server
	// Password is every node's requirepass (and masterauth).
	Password string
}

// ClusterOptions vary what StartCluster runs.
type ClusterOptions struct {
	Password string
	// Args are more redis-server arguments for every node.
	Args []string
}

// cliBinary finds redis-cli or fails the test with what to install.
func cliBinary(t testing.TB) string {
	t.Helper()
	if path, err := exec.LookPath("redis-cli"); err == nil {
		return path
	}
	t.Fatal("no redis-cli found: install Debian's redis-tools package (make test does, through scripts/install-test-deps.sh)")
	return ""
}

// StartCluster runs three nodes in cluster mode, joins them into one
// cluster with every slot assigned, and returns once every node says the
// cluster is ok. Everything is stopped at cleanup.
func StartCluster(t testing.TB, o ClusterOptions) *Cluster {
	t.Helper()
	cli := cliBinary(t)
	args := []string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000"}
	if o.Password != "" {
		args = append(args, "--masterauth", o.Password)
	}
	args = append(args, o.Args...)
	c := &Cluster{t: t, Password: o.Password}
	for range 3 {
		// The cluster bus would be port+10000 by default, past 65535 for
		// many free ports: give it a free port of its own.
		bus, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		nodeArgs := append([]string{"--cluster-port", strconv.Itoa(bus)}, args...)
		c.Nodes = append(c.Nodes, StartWith(t, Options{Password: o.Password, Args: nodeArgs}))
	}
	create := append([]string{"--cluster", "create"}, c.Addrs()...)
	create = append(create, "--cluster-replicas", "0", "--cluster-yes")
	if o.Password != "" {
		create = append(create, "-a", o.Password, "--no-auth-warning")
	}
	if out, err := exec.Command(cli, create...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	c.waitOK()
	return c
}

// Addrs are the nodes' host:port.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.Addr()
	}
	return out
}

// Kill stops every node at once (SIGKILL); data and cluster configuration
// stay on disk.
func (c *Cluster) Kill() {
	for _, n := range c.Nodes {
		n.Kill()
	}
}

// Restart starts every node again on its port, with its data, and waits
// until the cluster is ok again.
func (c *Cluster) Restart() {
	c.t.Helper()
	for _, n := range c.Nodes {
		n.Restart()
	}
	c.waitOK()
}

// Client is a cluster client for checking what the nodes hold.
func (c *Cluster) Client() *redis.ClusterClient {
	return redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs(), Password: c.Password})
}

// NodeClient speaks to node i alone.
func (c *Cluster) NodeClient(i int) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: c.Nodes[i].Addr(), Password: c.Password})
}

// waitOK waits until every node reports cluster_state:ok and knows all
// the others.
func (c *Cluster) waitOK() {
	c.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var why string
	for time.Now().Before(deadline) {
		why = ""
		for i := range c.Nodes {
			nc := redis.NewClient(&redis.Options{Addr: c.Nodes[i].Addr(), Password: c.Password, MaxRetries: -1, DialTimeout: time.Second, ReadTimeout: time.Second})
			info, err := nc.ClusterInfo(context.Background()).Result()
			_ = nc.Close()
			want := fmt.Sprintf("cluster_known_nodes:%d", len(c.Nodes))
			if err != nil || !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, want) {
				why = fmt.Sprintf("node %d: %v %s", i, err, info)
				break
			}
		}
		if why == "" {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Fatalf("redis cluster not ok within 60 s: %s", why)
}
