package session

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// Signing keys live at P key:<name> (plain strings with their expiry), next
// to the sessions they sign for.

func (s *RedisStore) keyName(name string) string { return s.prefix + "key:" + name }

// Key implements KeyStore.
func (s *RedisStore) Key(ctx context.Context, name string) ([]byte, error) {
	v, err := s.client.Get(ctx, s.keyName(name)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, s.fail("signing_key", err)
	}
	return v, nil
}

// AddKey implements KeyStore: SET NX, then a read of what won, so
// replicas racing on one name all return the same value.
func (s *RedisStore) AddKey(ctx context.Context, name string, value []byte, expires time.Time) ([]byte, error) {
	ttl := time.Until(expires)
	if ttl <= 0 {
		return value, nil
	}
	k := s.keyName(name)
	if _, err := s.client.SetNX(ctx, k, value, ttl).Result(); err != nil {
		return nil, s.fail("signing_key", err)
	}
	v, err := s.client.Get(ctx, k).Bytes()
	if err != nil {
		// redis.Nil: it expired in between, which a ttl this long never does.
		return nil, s.fail("signing_key", err)
	}
	return v, nil
}
