package session

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// The PostgreSQL store's background work: migrating the schema until it is
// done, then holding a LISTEN connection for the other replicas' news
// (revocations, replaced sessions); and deleting expired rows.

// listenPingTimeout bounds the ping that checks a quiet LISTEN connection:
// with subscriptionPing it stays under subscriptionFresh, so a stalled
// connection is dropped (and a new one made) before the cache would trust it.
const listenPingTimeout = 500 * time.Millisecond

// sweepBatch is how many expired rows one statement deletes; rows another
// replica's sweep (or a write) holds are skipped, not waited for.
const sweepBatch = 500

// run migrates the schema, retrying until the database lets it, then
// listens until Close.
func (s *PostgresStore) run() {
	defer s.wg.Done()
	backoff := 100 * time.Millisecond
	var lastMsg string
	for {
		ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
		m, err := s.migrate(ctx)
		cancel()
		if s.ctx.Err() != nil {
			return
		}
		if err == nil {
			s.migrated(m)
			break
		}
		s.lastErr.Store(&err)
		if msg := err.Error(); msg != lastMsg {
			s.log.Warn("session store (postgresql) not ready: could not check and migrate its schema; requests that need a session are refused until it can", "schema", s.opts.Schema, "error", err)
			lastMsg = msg
		}
		if !sleepCtx(s.ctx, backoff) {
			return
		}
		backoff = min(backoff*2, 5*time.Second)
	}
	s.listen()
}

func (s *PostgresStore) migrated(m SchemaMigration) {
	latest := PostgresSchemaVersion()
	switch {
	case m.Found > latest:
		s.log.Warn("session schema is newer than this outpost knows (a newer outpost migrated it); carrying on, as migrations only add",
			"schema", m.Schema, "found_version", m.Found, "known_version", latest)
	case m.Found == m.Version:
		s.log.Info("session schema up to date", "schema", m.Schema, "found_version", m.Found, "version", m.Version)
	default:
		s.log.Info("session schema migrated", "schema", m.Schema, "found_version", m.Found, "version", m.Version, "took", m.Took.Round(time.Millisecond).String())
	}
	if s.opts.OnMigrated != nil {
		s.opts.OnMigrated(m)
	}
	s.ready.Store(true)
	close(s.readyCh)
}

// listen keeps a LISTEN connection, marks the feed down on any failure (the
// cache is bypassed until it is back) and empties the cache whenever it
// listens anew, since notifications may have been missed.
func (s *PostgresStore) listen() {
	backoff := 50 * time.Millisecond
	for s.ctx.Err() == nil {
		wasUp, err := s.listenOnce()
		if s.ctx.Err() != nil {
			return
		}
		if s.subUp.Swap(false) {
			s.log.Warn("session invalidation feed (LISTEN) lost; reading every session from postgresql until it is back", "error", err)
		}
		s.feed.set(false)
		if wasUp {
			backoff = 50 * time.Millisecond
		}
		if !sleepCtx(s.ctx, backoff) {
			return
		}
		backoff = min(backoff*2, time.Second)
	}
}

// listenOnce connects, listens and handles notifications until the
// connection fails or stalls; wasUp says whether it got as far as listening.
func (s *PostgresStore) listenOnce() (wasUp bool, err error) {
	ctx, cancel := context.WithTimeout(s.ctx, s.opts.OpTimeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, s.listenC)
	if err != nil {
		return false, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, `LISTEN `+pgx.Identifier{s.channel}.Sanitize()); err != nil {
		return false, err
	}
	if s.cache != nil {
		s.cache.clear()
	}
	s.heard()
	if !s.subUp.Swap(true) {
		s.log.Debug("session invalidation feed (LISTEN) up")
	}
	for {
		wctx, cancel := context.WithTimeout(s.ctx, subscriptionPing)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			s.heard()
			s.handle(n.Payload)
			continue
		case s.ctx.Err() != nil:
			return true, nil
		case !errors.Is(err, context.DeadlineExceeded) || conn.IsClosed():
			return true, err
		}
		// Quiet: make sure the connection still answers.
		pctx, cancel := context.WithTimeout(s.ctx, listenPingTimeout)
		err = conn.Ping(pctx)
		cancel()
		if err != nil {
			return true, err
		}
		s.heard()
	}
}

// sweepLoop deletes expired rows every SweepInterval once the schema is
// ready.
func (s *PostgresStore) sweepLoop() {
	defer s.wg.Done()
	select {
	case <-s.ctx.Done():
		return
	case <-s.readyCh:
	}
	t := time.NewTicker(s.opts.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			if err := s.sweep(); err != nil && s.ctx.Err() == nil {
				s.log.Debug("session store (postgresql) sweep of expired rows failed; tried again later", "error", err)
			}
		}
	}
}

// sweep deletes expired sessions (telling watchers, as they ended), replay
// keys and locks, sweepBatch rows a statement by the expiry index, rows
// locked by anyone else skipped: the table is never locked, and replicas
// sweeping together share the work.
func (s *PostgresStore) sweep() error {
	now := s.opts.Now()
	for {
		var ids []string
		ctx, cancel := context.WithTimeout(s.ctx, s.opts.OpTimeout)
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			rows, err := tx.Query(ctx, `DELETE FROM `+s.t.sessions+` WHERE id IN (
	SELECT id FROM `+s.t.sessions+` WHERE expires_at <= $1 ORDER BY expires_at LIMIT `+itoa(sweepBatch)+` FOR UPDATE SKIP LOCKED)
RETURNING id`, now)
			if err != nil {
				return err
			}
			if ids, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
				return err
			}
			return s.notify(ctx, tx, "r", ids)
		})
		cancel()
		if err != nil {
			return err
		}
		s.removed(ids)
		if len(ids) < sweepBatch {
			break
		}
		if !sleepCtx(s.ctx, 10*time.Millisecond) {
			return nil
		}
	}
	for _, table := range []string{s.t.once, s.t.locks} {
		for {
			ctx, cancel := context.WithTimeout(s.ctx, s.opts.OpTimeout)
			tag, err := s.pool.Exec(ctx, `DELETE FROM `+table+` WHERE key IN (
	SELECT key FROM `+table+` WHERE expires_at <= clock_timestamp() LIMIT `+itoa(sweepBatch)+` FOR UPDATE SKIP LOCKED)`)
			cancel()
			if err != nil {
				return err
			}
			if tag.RowsAffected() < sweepBatch {
				break
			}
		}
	}
	return nil
}
