package session

import (
	"context"
	"fmt"
)

// MaxmemoryPolicy asks Redis for its maxmemory-policy (CONFIG GET). Any
// policy but noeviction lets Redis drop session and index keys when it is
// full: an evicted sid:/sub: index makes SESSION_END and sign-out miss
// live sessions. Managed Redis services often refuse CONFIG: then the
// error says so and the policy is unknown.
func (s *RedisStore) MaxmemoryPolicy(ctx context.Context) (string, error) {
	v, err := s.client.ConfigGet(ctx, "maxmemory-policy").Result()
	if err != nil {
		return "", err
	}
	p, ok := v["maxmemory-policy"]
	if !ok {
		return "", fmt.Errorf("CONFIG GET maxmemory-policy: no answer")
	}
	return p, nil
}
