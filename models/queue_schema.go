package models

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"

	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/uptrace/bun"
)

// migrateQueue brings the durable queue's tables (River's river_job and
// friends) up to date with River's own migrations, which River records in
// river_migration. It runs after sessiond's migrations, one River version
// per transaction (a version adds an enum value that a later one uses,
// which PostgreSQL forbids in one transaction), each under the migration
// lock and without a statement timeout, like sessiond's own.
func migrateQueue(ctx context.Context, db *DB) error {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var m interface {
		AllVersions() []rivermigrate.Migration
		ExistingVersionsTx(context.Context, *sql.Tx) ([]rivermigrate.Migration, error)
		MigrateTx(context.Context, *sql.Tx, rivermigrate.Direction, *rivermigrate.MigrateOpts) (*rivermigrate.MigrateResult, error)
	}
	var err error
	if db.Kind == Postgres {
		m, err = rivermigrate.New(riverdatabasesql.New(nil), &rivermigrate.Config{Logger: quiet})
	} else {
		m, err = rivermigrate.New(riversqlite.New(nil), &rivermigrate.Config{Logger: quiet})
	}
	if err != nil {
		return err
	}
	for _, v := range m.AllVersions() {
		err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			if db.Kind == Postgres {
				if _, err := tx.ExecContext(ctx, "SET LOCAL statement_timeout = 0"); err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(?)", migrateLockKey); err != nil {
					return err
				}
			}
			have, err := m.ExistingVersionsTx(ctx, tx.Tx)
			if err != nil {
				return err
			}
			for _, h := range have {
				if h.Version >= v.Version {
					return nil
				}
			}
			_, err = m.MigrateTx(ctx, tx.Tx, rivermigrate.DirectionUp, &rivermigrate.MigrateOpts{TargetVersion: v.Version})
			return err
		})
		if err != nil {
			return fmt.Errorf("queue version %d: %w", v.Version, err)
		}
	}
	return nil
}

// SQLDB is the connection pool that writes: the one the queue works
// through, so that its jobs commit in the same transactions as the
// changes that cause them.
func (db *DB) SQLDB() *sql.DB { return db.DB.DB }

// URL is the database URL the DB was opened with: for connections of
// their own (the queue's listener), or another process's.
func (db *DB) URL() string { return db.url }
