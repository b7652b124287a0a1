package models

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" driver
)

// Dialect names the database engine behind a DB.
type Dialect string

const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// sqliteTimeFormat is the one text format times have in SQLite. It is the
// format bun writes (UTC, trailing zeros trimmed), which sorts as text in
// time order, so comparisons in SQL are comparisons of instants.
const sqliteTimeFormat = "2006-01-02 15:04:05.999999-07:00"

// DB is the application's database: bun for ordinary queries. On SQLite,
// DB (the embedded *bun.DB) is the single writer connection and Read is a
// small pool of readers, so reads never queue behind a write; the session
// manager's lookup opens reader connections of its own (lookup_sqlite.go).
type DB struct {
	*bun.DB
	Read *bun.DB
	Kind Dialect

	url     string        // for connections of their own (revocation listener, queue)
	readDSN string        // SQLite: the readers' DSN, for the lookup's connections
	closed  chan struct{} // closed by Close
	once    sync.Once

	// forget drops what a committed revocation names from the session
	// cache (SessionManager.SetCache sets it).
	forget func(msgs []string)
}

// revoking runs fn in a transaction as a revocation and, once committed,
// drops what fn's messages name (see SessionCache.Apply) from this
// process's cache at once. Other instances learn of it from the revocation
// log the database's triggers write (revocations.go).
func (db *DB) revoking(ctx context.Context, fn func(ctx context.Context, tx bun.Tx) (msgs []string, err error)) error {
	var msgs []string
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var err error
		msgs, err = fn(ctx, tx)
		return err
	})
	if err != nil {
		return Wrap(err, "revoke")
	}
	if db.forget != nil {
		db.forget(msgs)
	}
	return nil
}

func userMsg(id int64) string    { return revokeUser + strconv.FormatInt(id, 10) }
func sessionMsg(id int64) string { return revokeSession + strconv.FormatInt(id, 10) }

// Open connects to the database named by rawURL: "sqlite:PATH" (or a path
// ending in .db) for an embedded file, "postgres://…" for PostgreSQL.
func Open(ctx context.Context, rawURL string) (*DB, error) {
	switch {
	case strings.HasPrefix(rawURL, "postgres://"), strings.HasPrefix(rawURL, "postgresql://"):
		return openPostgres(ctx, rawURL)
	case strings.HasPrefix(rawURL, "sqlite:"), strings.HasPrefix(rawURL, "file:"):
		path := strings.TrimPrefix(strings.TrimPrefix(rawURL, "sqlite:"), "file:")
		path = strings.TrimPrefix(path, "//")
		return openSQLite(ctx, path)
	default:
		return nil, fmt.Errorf("database url %q: want sqlite:PATH or postgres://…", redactURL(rawURL))
	}
}

// statementTimeout is PostgreSQL's statement_timeout for sessiond's
// connections, unless DATABASE_URL sets one.
const statementTimeout = "10s"

func openPostgres(ctx context.Context, rawURL string) (*DB, error) {
	cfg, err := pgx.ParseConfig(rawURL)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	// The session lookup's token_hash = ANY($1) would be planned anew on
	// every execution otherwise: PostgreSQL keeps custom plans when the
	// generic one's estimate (10 hashes) costs more than one hash's. Only
	// the lookup (and seeding's INSERTs) send parameters; bun inlines its.
	//
	// And no parallel workers: sessiond's reads are index lookups and
	// ranges, and a parallel whole-table count (dashboard, /metrics) takes
	// every core, no faster on two, while session lookups wait behind it.
	//
	// And a statement timeout: a lookup stuck behind a lock (an ALTER TABLE
	// run by hand, a transaction left open in psql) would otherwise hold
	// its request forever, and every request after it. With one, it fails
	// after 10 s and the request gets a 503; migrations lift it.
	// A DATABASE_URL that sets any of these parameters keeps its own value
	// (statement_timeout=0 turns the timeout off).
	for name, value := range map[string]string{"plan_cache_mode": "force_generic_plan", "max_parallel_workers_per_gather": "0",
		"statement_timeout": statementTimeout} {
		if _, set := cfg.RuntimeParams[name]; !set {
			cfg.RuntimeParams[name] = value
		}
	}
	sqldb := stdlib.OpenDB(*cfg)
	sqldb.SetMaxOpenConns(16)
	sqldb.SetMaxIdleConns(16)
	sqldb.SetConnMaxIdleTime(5 * time.Minute)
	bdb := bun.NewDB(sqldb, pgdialect.New())
	db := &DB{DB: bdb, Read: bdb, Kind: Postgres, url: rawURL, closed: make(chan struct{})}
	if err := db.ping(ctx); err != nil {
		sqldb.Close()
		return nil, err
	}
	return db, nil
}

// sqliteDSN sets every pragma in the DSN so that each pooled connection gets
// them, not just the first one.
func sqliteDSN(path string, readOnly bool) string {
	q := url.Values{}
	for _, p := range []string{
		"busy_timeout(5000)",
		"journal_mode(WAL)",
		"synchronous(NORMAL)",
		"foreign_keys(1)",
		"mmap_size(268435456)",
		"temp_store(MEMORY)",
	} {
		q.Add("_pragma", p)
	}
	if readOnly {
		// A reader's page cache is emptied after every commit of the writer,
		// and modernc's SQLite (built with SQLITE_ENABLE_MEMORY_MANAGEMENT)
		// empties it under the one page-cache mutex of the whole process,
		// the one the writer takes for every page. A small cache keeps that
		// short while a cleanup commits chunk after chunk; reads of the
		// first 256 MB come from mmap (the OS page cache) anyway.
		q.Add("_pragma", "cache_size(-2000)")
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Add("_pragma", "cache_size(-16000)")
		q.Set("_txlock", "immediate")
	}
	return "file:" + path + "?" + q.Encode()
}

// sqliteReaders is the size of the read pool, and of the session lookup's
// connections beside it.
const sqliteReaders = 4

func openSQLite(ctx context.Context, path string) (*DB, error) {
	if path == "" {
		return nil, errors.New("sqlite: empty path")
	}
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("sqlite: create %s: %w", dir, err)
		}
	}
	w, err := sql.Open("sqlite", sqliteDSN(path, false))
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	// One writer: SQLite allows one at a time anyway, and queueing in Go is
	// cheaper and fairer than spinning on busy_timeout.
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	writer := bun.NewDB(w, sqlitedialect.New())
	// Create the file and switch it to WAL before readers open it.
	if err := writer.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	if err := dropSessionSamples(ctx, writer); err != nil {
		w.Close()
		return nil, err
	}
	readDSN := sqliteDSN(path, true)
	r, err := sql.Open("sqlite", readDSN)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite readers: %w", err)
	}
	r.SetMaxOpenConns(sqliteReaders)
	r.SetMaxIdleConns(sqliteReaders)
	r.SetConnMaxIdleTime(0)
	r.SetConnMaxLifetime(0)
	db := &DB{DB: writer, Read: bun.NewDB(r, sqlitedialect.New()), Kind: SQLite, url: "sqlite:" + path,
		readDSN: readDSN, closed: make(chan struct{})}
	if err := db.ping(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// dropSessionSamples removes STAT4 samples for sessions, left by an ANALYZE
// (or PRAGMA optimize) someone ran on the file. modernc builds SQLite with
// STAT4, and with samples a statement whose plan depended on a bound value
// is recompiled whenever that value changes: on the per-request lookup that
// cost ~20% of server CPU (DESIGN.md, performance). Readers opened after
// this load statistics without them.
func dropSessionSamples(ctx context.Context, w *bun.DB) error {
	var n int
	err := w.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema WHERE name = 'sqlite_stat4'").Scan(&n)
	if err != nil || n == 0 {
		return Wrap(err, "check sqlite_stat4")
	}
	if _, err := w.ExecContext(ctx, "DELETE FROM sqlite_stat4 WHERE tbl = 'sessions'"); err != nil {
		return Wrap(err, "drop sessions STAT4 samples")
	}
	_, err = w.ExecContext(ctx, "ANALYZE sqlite_schema") // reload statistics on this connection
	return Wrap(err, "reload statistics")
}

func (db *DB) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := db.DB.PingContext(ctx); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return nil
}

// Ping reports whether the database answers; readiness checks use it.
func (db *DB) Ping(ctx context.Context) error {
	if _, err := db.Read.ExecContext(ctx, "SELECT 1"); err != nil {
		return Wrap(err, "ping")
	}
	return nil
}

// Close closes both pools; the SQLite session lookup stops answering.
func (db *DB) Close() error {
	db.once.Do(func() { close(db.closed) })
	var errs []error
	if db.Read != db.DB {
		errs = append(errs, db.Read.Close())
	}
	errs = append(errs, db.DB.Close())
	return errors.Join(errs...)
}

// parseStoredTime reads a SQLite time as bun writes it, UTC:
// "2006-01-02 15:04:05[.ffffff]+00:00", without time.Parse's generality.
// Anything else goes to time.Parse.
func parseStoredTime(s string) (time.Time, error) {
	n := len(s)
	if n < 25 || s[4] != '-' || s[7] != '-' || s[10] != ' ' || s[13] != ':' || s[16] != ':' || s[n-6:] != "+00:00" {
		return parseTimeSlow(s)
	}
	num := func(a, b int) int {
		v := 0
		for i := a; i < b; i++ {
			c := s[i] - '0'
			if c > 9 {
				return -1
			}
			v = v*10 + int(c)
		}
		return v
	}
	yr, mo, dy, hh, mm, ss := num(0, 4), num(5, 7), num(8, 10), num(11, 13), num(14, 16), num(17, 19)
	ns := 0
	if frac := s[19 : n-6]; frac != "" {
		if frac[0] != '.' || len(frac) < 2 || len(frac) > 10 {
			return parseTimeSlow(s)
		}
		ns = num(20, n-6)
		for i := len(frac) - 1; i < 9; i++ {
			ns *= 10
		}
	}
	if yr < 0 || mo < 1 || mo > 12 || dy < 1 || dy > 31 || hh < 0 || hh > 23 || mm < 0 || mm > 59 || ss < 0 || ss > 59 || ns < 0 {
		return parseTimeSlow(s)
	}
	return time.Date(yr, time.Month(mo), dy, hh, mm, ss, ns, time.UTC), nil
}

func parseTimeSlow(s string) (time.Time, error) {
	for _, layout := range []string{sqliteTimeFormat, time.RFC3339Nano, "2006-01-02 15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("stored time %q: unknown format", s)
}

// T converts an instant to the value the dialect compares correctly: a UTC
// text in SQLite's one format, a time.Time for PostgreSQL's timestamptz.
func (db *DB) T(t time.Time) any {
	if db.Kind == SQLite {
		return t.UTC().Format(sqliteTimeFormat)
	}
	return t.UTC()
}

// Rebind turns ? placeholders into $n for PostgreSQL in the few hand-written
// statements that bypass bun.
func (db *DB) Rebind(query string) string {
	if db.Kind != Postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	return u.Redacted()
}
