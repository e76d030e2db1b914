package main

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisClusterScenario measures proxy mode with sessions in a Redis
// Cluster of three masters (redis-cli --cluster create), the store's read
// cache on, as deployed. On a cluster the store keeps each session's keys
// in one hash-tagged bucket and every revocation fans out per master:
// this is the data path that differs from one node's. Sentinel is not a
// scenario of its own: behind it the outpost talks to one master, as in
// the redis scenario. A -baseline from before cluster support could not
// connect, so it sits this one out (storeScenario).
func (w *world) redisClusterScenario() {
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		fmt.Println("note: no Redis Cluster scenario: redis-cli not found (Debian's redis-tools)")
		return
	}
	addrs := make([]string, 3)
	for i := range addrs {
		addrs[i] = freeAddr()
		// The cluster bus would be port+10000, past 65535 for many free
		// ports: it gets a free port of its own.
		bus := freeAddr()
		name := "redis-cluster-" + strconv.Itoa(i)
		p := startRedis(w.cfg, name, addrs[i], "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "2000", "--cluster-port", bus[strings.LastIndexByte(bus, ':')+1:])
		defer p.stop()
	}
	create := append([]string{"--cluster", "create"}, addrs...)
	create = append(create, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command(cli, create...).CombinedOutput(); err != nil {
		fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	waitClusterOK(addrs)
	w.storeScenario("proxy session (redis cluster)", []string{"AUTHENTIK_REDIS__CLUSTER__ADDRS=" + strings.Join(addrs, ",")})
}

// waitClusterOK waits until every node says cluster_state:ok and knows
// the others.
func waitClusterOK(addrs []string) {
	deadline := time.Now().Add(60 * time.Second)
	want := fmt.Sprintf("cluster_known_nodes:%d", len(addrs))
	var why string
	for time.Now().Before(deadline) {
		why = ""
		for _, a := range addrs {
			c := redis.NewClient(&redis.Options{Addr: a, MaxRetries: -1, DialTimeout: time.Second, ReadTimeout: time.Second})
			info, err := c.ClusterInfo(context.Background()).Result()
			_ = c.Close()
			if err != nil || !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, want) {
				why = fmt.Sprintf("%s: %v %s", a, err, info)
				break
			}
		}
		if why == "" {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	fatalf("redis cluster not ok within 60 s: %s", why)
}
