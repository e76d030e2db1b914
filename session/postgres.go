package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PostgresOptions configure a PostgresStore.
type PostgresOptions struct {
	// ConnString is the connection (libpq keyword/value or URL): host,
	// port, database, user, password, TLS.
	ConnString string
	// Schema is the schema the outpost owns and migrates (CheckPostgresSchema).
	// Default DefaultPostgresSchema.
	Schema string
	// MaxConns bounds the pool (the notification listener has one more).
	// Default 10.
	MaxConns int32
	// CacheSize bounds the in-process read cache (sessions). Default 10000;
	// negative disables the cache.
	CacheSize int
	// CacheTTL is how long a cached session is served without asking the
	// database (revocations invalidate it at once through LISTEN/NOTIFY).
	// Default 5 s.
	CacheTTL time.Duration
	// MaxSessionsPerSubject bounds one account's sessions at one provider:
	// signing in again past it ends that account's session closest to
	// expiry. Default DefaultMaxSessionsPerSubject.
	MaxSessionsPerSubject int
	// SweepInterval is how often expired rows are deleted, in small
	// batches. Default 30 s.
	SweepInterval time.Duration
	// OpTimeout bounds each statement (a transaction for writes), so a
	// database that hangs fails requests instead of holding them. Default 2 s.
	OpTimeout time.Duration
	// OnError, if set, is called once per store operation that failed
	// because the database could not answer (op: get, save, delete,
	// delete_by_sid, delete_by_sub, len, lock, first_use, forget).
	OnError func(op string)
	// PendingRevocations and RevocationRetryFor bound the revocations the
	// database could not confirm, as for RedisOptions.
	PendingRevocations int
	RevocationRetryFor time.Duration
	// OnMigrated, if set, is called once the schema is migrated, with what
	// was found and done (the store also logs it).
	OnMigrated func(SchemaMigration)
	Log        *slog.Logger
	// Now is the clock for session expiry; tests may replace it. Locks and
	// the replay guard use the database's clock, shared by every replica.
	Now func() time.Time
}

// DefaultPostgresSchema is the schema when none is configured.
const DefaultPostgresSchema = "outpost"

// PostgresStore keeps sessions in PostgreSQL, shared by every replica that
// uses the same database and schema: the database authentik 2025.10 and
// later already runs on.
//
// Tables, in the outpost's schema (postgres_schema.go): sessions (one row a
// session, its record (record.go) in data, indexed by sid, sub, provider and
// expiry), once_keys (replay guard), locks (refresh locks), and
// schema_migrations. Notifications on channel <schema>_events carry
// "r <origin> <ids…>" (revoked) and "s <origin> <id>" (replaced), sent in
// the transaction that made the change, so they go out exactly when it
// commits.
type PostgresStore struct {
	opts    PostgresOptions
	pool    *pgxpool.Pool
	listenC *pgx.ConnConfig
	schema  string // quoted
	t       storeTables
	channel string
	// shared: the read cache and its LISTEN connection's health, watchers,
	// pending revocations and the deletions (shared.go).
	shared

	ready   atomic.Bool // migrated
	lastErr atomic.Pointer[error]
	readyCh chan struct{}

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// storeTables are the quoted table names.
type storeTables struct{ sessions, once, locks string }

// NewPostgresStore connects lazily and migrates in the background: a
// database that is down at start makes operations fail (callers deny)
// until it is back and the schema is migrated. WaitReady waits for that.
func NewPostgresStore(opts PostgresOptions) (*PostgresStore, error) {
	if opts.Schema == "" {
		opts.Schema = DefaultPostgresSchema
	}
	if err := CheckPostgresSchema(opts.Schema); err != nil {
		return nil, fmt.Errorf("postgresql store: schema: %w", err)
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = 10
	}
	if opts.CacheSize == 0 {
		opts.CacheSize = 10000
	}
	if opts.CacheTTL <= 0 {
		opts.CacheTTL = 5 * time.Second
	}
	if opts.MaxSessionsPerSubject <= 0 {
		opts.MaxSessionsPerSubject = DefaultMaxSessionsPerSubject
	}
	if opts.SweepInterval <= 0 {
		opts.SweepInterval = 30 * time.Second
	}
	if opts.OpTimeout <= 0 {
		opts.OpTimeout = 2 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	cfg, err := pgxpool.ParseConfig(opts.ConnString)
	if err != nil {
		// Its message quotes the connection string, redacted only as
		// well as the parser can guess where the password is.
		var pe *pgconn.ParseConfigError
		if errors.As(err, &pe) {
			if inner := pe.Unwrap(); inner != nil {
				return nil, fmt.Errorf("postgresql store: connection settings: %w", inner)
			}
			return nil, errors.New("postgresql store: the connection settings do not parse")
		}
		return nil, fmt.Errorf("postgresql store: %w", err)
	}
	cfg.MaxConns = opts.MaxConns
	cfg.PingTimeout = opts.OpTimeout
	if cfg.ConnConfig.ConnectTimeout == 0 || cfg.ConnConfig.ConnectTimeout > opts.OpTimeout {
		cfg.ConnConfig.ConnectTimeout = opts.OpTimeout
	}
	if cfg.ConnConfig.RuntimeParams["application_name"] == "" {
		cfg.ConnConfig.RuntimeParams["application_name"] = "outpost"
	}
	listenC := cfg.ConnConfig.Copy()
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("postgresql store: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	q := pgx.Identifier{opts.Schema}.Sanitize()
	s := &PostgresStore{
		opts: opts, pool: pool, listenC: listenC, schema: q,
		t:       storeTables{sessions: q + ".sessions", once: q + ".once_keys", locks: q + ".locks"},
		channel: opts.Schema + "_events",
		readyCh: make(chan struct{}),
		ctx:     ctx, cancel: cancel,
	}
	s.shared.init("postgresql", opts.Log, opts.CacheSize, opts.CacheTTL, opts.PendingRevocations, opts.RevocationRetryFor)
	s.remove = s.removeRows
	s.wg.Add(3)
	go s.run()
	go s.sweepLoop()
	go func() { defer s.wg.Done(); s.pending.retry(s.ctx) }()
	return s, nil
}

// WaitReady waits until the schema is migrated, or ctx ends: then it
// returns the last error met (the database did not answer, or refused).
func (s *PostgresStore) WaitReady(ctx context.Context) error {
	select {
	case <-s.readyCh:
		return nil
	case <-ctx.Done():
		if e := s.lastErr.Load(); e != nil {
			return *e
		}
		return ctx.Err()
	}
}

// Ping checks that the database answers.
func (s *PostgresStore) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

func (s *PostgresStore) fail(op string, err error) error {
	if s.opts.OnError != nil {
		s.opts.OnError(op)
	}
	return fmt.Errorf("session store (postgresql) %s: %w", op, err)
}

// op runs fn with the statement timeout, once the schema is ready.
func (s *PostgresStore) op(ctx context.Context, name string, fn func(ctx context.Context) error) error {
	if !s.ready.Load() {
		return s.fail(name, errNotReady)
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.OpTimeout)
	defer cancel()
	if err := fn(ctx); err != nil {
		return s.fail(name, err)
	}
	return nil
}

// tx is op in a transaction.
func (s *PostgresStore) tx(ctx context.Context, name string, fn func(ctx context.Context, tx pgx.Tx) error) error {
	return s.op(ctx, name, func(ctx context.Context) error {
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return fn(ctx, tx) })
	})
}

func (s *PostgresStore) Get(ctx context.Context, id string) (*Session, error) {
	now := s.opts.Now()
	return s.get(ctx, id, now, func(ctx context.Context) ([]byte, error) {
		var raw []byte
		err := s.op(ctx, "get", func(ctx context.Context) error {
			err := s.pool.QueryRow(ctx, `SELECT data FROM `+s.t.sessions+` WHERE id = $1 AND expires_at > $2`, id, now).Scan(&raw)
			if errors.Is(err, pgx.ErrNoRows) {
				raw = nil
				return nil
			}
			return err
		})
		return raw, err
	})
}

func (s *PostgresStore) Save(ctx context.Context, sess *Session) error {
	_, err := s.save(ctx, sess, false)
	return err
}

// SaveIfExists implements Store: the row is locked (FOR UPDATE) before the
// write, so a deletion on any replica either commits first (and nothing
// is written) or waits and removes the refreshed session.
func (s *PostgresStore) SaveIfExists(ctx context.Context, sess *Session) (bool, error) {
	return s.save(ctx, sess, true)
}

func (s *PostgresStore) save(ctx context.Context, sess *Session, mustExist bool) (bool, error) {
	if sess.ID == "" {
		return false, errNoID
	}
	rec, err := encodeRecord(sess)
	if err != nil {
		return false, fmt.Errorf("session store (postgresql) save: %w", err)
	}
	raw := []byte(rec) // bytea
	var saved bool
	var evicted []string
	err = s.tx(ctx, "save", func(ctx context.Context, tx pgx.Tx) error {
		saved, evicted = false, nil
		now := s.opts.Now()
		if mustExist {
			var one int
			err := tx.QueryRow(ctx, `SELECT 1 FROM `+s.t.sessions+` WHERE id = $1 AND expires_at > $2 FOR UPDATE`, sess.ID, now).Scan(&one)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			if err != nil {
				return err
			}
		}
		if !sess.ExpiresAt.After(now) {
			// Stores nothing; a session it replaced is gone.
			tag, err := tx.Exec(ctx, `DELETE FROM `+s.t.sessions+` WHERE id = $1`, sess.ID)
			if err != nil || tag.RowsAffected() == 0 {
				return err
			}
			return s.notify(ctx, tx, "s", []string{sess.ID})
		}
		if sess.Sub != "" {
			var err error
			if evicted, err = s.makeRoom(ctx, tx, sess, now); err != nil {
				return err
			}
		}
		var inserted bool
		err := tx.QueryRow(ctx, `INSERT INTO `+s.t.sessions+` (id, provider, sub, sid, data, created_at, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (id) DO UPDATE SET provider = EXCLUDED.provider, sub = EXCLUDED.sub, sid = EXCLUDED.sid,
	data = EXCLUDED.data, created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at
RETURNING xmax = 0`, sess.ID, sess.Provider, sess.Sub, sess.SID, raw, sess.CreatedAt, sess.ExpiresAt).Scan(&inserted)
		if err != nil {
			return err
		}
		saved = true
		if !inserted {
			if err := s.notify(ctx, tx, "s", []string{sess.ID}); err != nil {
				return err
			}
		}
		return s.notify(ctx, tx, "r", evicted)
	})
	s.saved(sess.ID)
	if err != nil {
		return false, err
	}
	s.removed(evicted)
	return saved, nil
}

// makeRoom ends the account's sessions at the provider past
// MaxSessionsPerSubject - 1 others, those closest to expiry first, under a
// transaction lock on the account so that concurrent sign-ins on several
// replicas count each other. It returns the live ones it ended.
func (s *PostgresStore) makeRoom(ctx context.Context, tx pgx.Tx, sess *Session, now time.Time) ([]string, error) {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2 || ' ' || $3))`, capLockClass, sess.Provider, sess.Sub); err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, `DELETE FROM `+s.t.sessions+` WHERE id IN (
	SELECT id FROM `+s.t.sessions+` WHERE provider = $1 AND sub = $2 AND id <> $3
	ORDER BY expires_at DESC, id OFFSET $4)
RETURNING id, expires_at > $5`, sess.Provider, sess.Sub, sess.ID, s.opts.MaxSessionsPerSubject-1, now)
	if err != nil {
		return nil, err
	}
	var ended []string
	var id string
	var live bool
	_, err = pgx.ForEachRow(rows, []any{&id, &live}, func() error {
		if live {
			ended = append(ended, id)
		}
		return nil
	})
	return ended, err
}

// capLockClass is the first key of the per-account advisory lock ("cap ").
const capLockClass = 0x63617020

// maxNotifyPayload is under PostgreSQL's 8000-byte limit of a payload.
const maxNotifyPayload = 7900

// notify sends "<kind> <origin> <ids…>" in as many notifications as the
// payload limit needs, in tx: they go out when it commits.
func (s *PostgresStore) notify(ctx context.Context, tx pgx.Tx, kind string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	head := kind + " " + s.origin
	var payloads []string
	cur := head
	for _, id := range ids {
		if len(cur)+1+len(id) > maxNotifyPayload && cur != head {
			payloads = append(payloads, cur)
			cur = head
		}
		cur += " " + id
	}
	payloads = append(payloads, cur)
	_, err := tx.Exec(ctx, `SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p`, s.channel, payloads)
	return err
}

// deleteChunk is how many sessions one statement deletes: an index of any
// size goes in transactions of bounded work and lock time.
const deleteChunk = 200

// removeRows implements shared.remove: one session by its id, or those of
// a sid or sub through their index.
func (s *PostgresStore) removeRows(ctx context.Context, op string, r revocation) (int, error) {
	cond, args := `id = $1`, []any{r.id}
	switch {
	case r.id != "":
	case r.sid != "":
		cond, args = `sid = $1`, []any{r.sid}
	default:
		cond, args = `sub = $1`, []any{r.sub}
	}
	if r.provider != "" {
		cond, args = cond+` AND provider = $2`, append(args, r.provider)
	}
	return s.deleteWhere(ctx, op, cond, args...)
}

// deleteWhere removes the sessions matching cond, deleteChunk at a time,
// each chunk's removals announced in its own transaction. An error stops
// it midway, with the chunks before it done.
func (s *PostgresStore) deleteWhere(ctx context.Context, op, cond string, args ...any) (int, error) {
	n := 0
	for {
		var ids []string
		err := s.tx(ctx, op, func(ctx context.Context, tx pgx.Tx) error {
			rows, err := tx.Query(ctx, `DELETE FROM `+s.t.sessions+` WHERE id IN (
	SELECT id FROM `+s.t.sessions+` WHERE `+cond+` LIMIT `+itoa(deleteChunk)+`) RETURNING id`, args...)
			if err != nil {
				return err
			}
			if ids, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
				return err
			}
			return s.notify(ctx, tx, "r", ids)
		})
		if err != nil {
			return n, err
		}
		s.removed(ids)
		n += len(ids)
		if len(ids) < deleteChunk {
			return n, nil
		}
	}
}

func (s *PostgresStore) Len(ctx context.Context) (int, error) {
	var n int
	err := s.op(ctx, "len", func(ctx context.Context) error {
		return s.pool.QueryRow(ctx, `SELECT count(*) FROM `+s.t.sessions+` WHERE expires_at > $1`, s.opts.Now()).Scan(&n)
	})
	return n, err
}

// Lock implements Locker across replicas: a row in locks, taken when
// absent or lapsed (by the database's clock), released only by its holder.
func (s *PostgresStore) Lock(ctx context.Context, key string, ttl time.Duration) (func(), error) {
	return s.pollLock(ctx, ttl, func(ctx context.Context, token string) (bool, error) {
		var got bool
		err := s.op(ctx, "lock", func(ctx context.Context) error {
			err := s.pool.QueryRow(ctx, `INSERT INTO `+s.t.locks+` AS l (key, token, expires_at)
VALUES ($1, $2, clock_timestamp() + make_interval(secs => $3))
ON CONFLICT (key) DO UPDATE SET token = EXCLUDED.token, expires_at = EXCLUDED.expires_at
	WHERE l.expires_at <= clock_timestamp()
RETURNING true`, key, token, ttl.Seconds()).Scan(&got)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			return err
		})
		return got, err
	}, func(ctx context.Context, token string) error {
		_, err := s.pool.Exec(ctx, `DELETE FROM `+s.t.locks+` WHERE key = $1 AND token = $2`, key, token)
		return err
	})
}

// FirstUse implements ReplayGuard across replicas.
func (s *PostgresStore) FirstUse(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	var first bool
	err := s.op(ctx, "first_use", func(ctx context.Context) error {
		err := s.pool.QueryRow(ctx, `INSERT INTO `+s.t.once+` AS o (key, expires_at)
VALUES ($1, clock_timestamp() + make_interval(secs => $2))
ON CONFLICT (key) DO UPDATE SET expires_at = EXCLUDED.expires_at WHERE o.expires_at <= clock_timestamp()
RETURNING true`, key, ttl.Seconds()).Scan(&first)
		if errors.Is(err, pgx.ErrNoRows) {
			first = false
			return nil
		}
		return err
	})
	return first, err
}

// Forget implements ReplayGuard.
func (s *PostgresStore) Forget(ctx context.Context, key string) error {
	return s.op(ctx, "forget", func(ctx context.Context) error {
		_, err := s.pool.Exec(ctx, `DELETE FROM `+s.t.once+` WHERE key = $1`, key)
		return err
	})
}

func (s *PostgresStore) Close() error {
	s.cancel()
	s.wg.Wait()
	s.pool.Close()
	return nil
}
