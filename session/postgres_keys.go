package session

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// Signing keys live in the signing_keys table (migration 2), next to the
// sessions they sign for.

// Key implements KeyStore.
func (s *PostgresStore) Key(ctx context.Context, name string) ([]byte, error) {
	var v []byte
	err := s.op(ctx, "signing_key", func(ctx context.Context) error {
		err := s.pool.QueryRow(ctx, `SELECT value FROM `+s.schema+`.signing_keys WHERE name = $1 AND expires_at > clock_timestamp()`, name).Scan(&v)
		if errors.Is(err, pgx.ErrNoRows) {
			v = nil
			return nil
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, ErrNotFound
	}
	return v, nil
}

// AddKey implements KeyStore: an insert that does nothing on a conflict,
// then a read of what won, in one transaction. An expired row under the
// name is replaced; expired rows are few (a few per rotation period) and
// are deleted here.
func (s *PostgresStore) AddKey(ctx context.Context, name string, value []byte, expires time.Time) ([]byte, error) {
	var v []byte
	err := s.tx(ctx, "signing_key", func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM `+s.schema+`.signing_keys WHERE expires_at <= clock_timestamp()`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO `+s.schema+`.signing_keys (name, value, expires_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING`, name, value, expires); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT value FROM `+s.schema+`.signing_keys WHERE name = $1`, name).Scan(&v)
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}
