package session

import (
	"context"
	"fmt"
	"sync"

	"github.com/redis/go-redis/v9"
)

// MaxmemoryPolicy asks Redis for its maxmemory-policy (CONFIG GET): the
// one node, the master Sentinel points at now, or every master of a
// cluster. Any policy but noeviction lets Redis drop session and index
// keys when it is full: an evicted sid:/sub: index makes SESSION_END and
// sign-out miss live sessions. It returns noeviction when every node
// says so, else the first other policy found and, on a cluster, the node
// (host:port) that has it. Managed Redis services often refuse CONFIG:
// then the error says so and the policy is unknown.
func (s *RedisStore) MaxmemoryPolicy(ctx context.Context) (policy, node string, err error) {
	if s.cluster == nil {
		p, err := maxmemoryPolicy(ctx, s.client)
		return p, "", err
	}
	var mu sync.Mutex
	policy = "noeviction"
	err = s.cluster.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		p, err := maxmemoryPolicy(ctx, c)
		if err != nil {
			return fmt.Errorf("%s: %w", c.Options().Addr, err)
		}
		mu.Lock()
		defer mu.Unlock()
		if p != "noeviction" && policy == "noeviction" {
			policy, node = p, c.Options().Addr
		}
		return nil
	})
	if err != nil {
		return "", "", err
	}
	return policy, node, nil
}

func maxmemoryPolicy(ctx context.Context, c redis.Cmdable) (string, error) {
	v, err := c.ConfigGet(ctx, "maxmemory-policy").Result()
	if err != nil {
		return "", err
	}
	p, ok := v["maxmemory-policy"]
	if !ok {
		return "", fmt.Errorf("CONFIG GET maxmemory-policy: no answer")
	}
	return p, nil
}
