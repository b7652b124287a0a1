package models

import (
	"context"
	"database/sql"
	"io"
	"log/slog"

	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
)

// migrateQueue brings the durable queue's tables (River's river_job and
// friends) up to date with River's own migrations, which River records in
// river_migration. It runs after sessiond's migrations. On PostgreSQL
// River applies each version in a transaction of its own (a version adds an
// enum value that a later statement uses, which one transaction forbids),
// so instances starting together take turns under a session-level lock.
func migrateQueue(ctx context.Context, db *DB) error {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	if db.Kind != Postgres {
		m, err := rivermigrate.New(riversqlite.New(db.SQLDB()), &rivermigrate.Config{Logger: quiet})
		if err != nil {
			return err
		}
		_, err = m.Migrate(ctx, rivermigrate.DirectionUp, nil)
		return err
	}
	conn, err := db.SQLDB().Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", migrateLockKey); err != nil {
		return err
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrateLockKey) //nolint:errcheck // the lock also ends with the connection
	m, err := rivermigrate.New(riverdatabasesql.New(db.SQLDB()), &rivermigrate.Config{Logger: quiet})
	if err != nil {
		return err
	}
	_, err = m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	return err
}

// SQLDB is the connection pool that writes: the one the queue works
// through, so that its jobs commit in the same transactions as the
// changes that cause them.
func (db *DB) SQLDB() *sql.DB { return db.DB.DB }

// URL is the database URL the DB was opened with: for connections of
// their own (the queue's listener), or another process's.
func (db *DB) URL() string { return db.url }
