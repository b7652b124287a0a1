package models

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/uptrace/bun"
)

//go:embed migrations
var migrationsFS embed.FS

// Migration is one embedded SQL file; the same ids exist for every dialect.
type Migration struct {
	ID  string
	SQL string
}

// Migrations lists the dialect's migrations in the order they apply.
func Migrations(d Dialect) ([]Migration, error) {
	dir := path.Join("migrations", string(d))
	entries, err := fs.ReadDir(migrationsFS, dir)
	if err != nil {
		return nil, fmt.Errorf("migrations for %s: %w", d, err)
	}
	var out []Migration
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		b, err := migrationsFS.ReadFile(path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{ID: strings.TrimSuffix(e.Name(), ".sql"), SQL: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Migrate applies the migrations not yet recorded in schema_migrations, each
// in its own transaction, and returns the ids it applied. On PostgreSQL an
// advisory lock makes instances starting together take turns.
func Migrate(ctx context.Context, db *DB) ([]string, error) {
	migs, err := Migrations(db.Kind)
	if err != nil {
		return nil, err
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		id TEXT PRIMARY KEY, applied_at TEXT NOT NULL)`); err != nil {
		return nil, Wrap(err, "create schema_migrations")
	}
	var applied []string
	for _, m := range migs {
		done := false
		err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			if db.Kind == Postgres {
				// No statement timeout here: a migration may rewrite a big
				// table, and another instance's may hold the lock as long.
				if _, err := tx.ExecContext(ctx, "SET LOCAL statement_timeout = 0"); err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(?)", migrateLockKey); err != nil {
					return err
				}
			}
			n, err := tx.NewSelect().Table("schema_migrations").Where("id = ?", m.ID).Count(ctx)
			if err != nil || n > 0 {
				done = n > 0
				return err
			}
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return fmt.Errorf("apply %s: %w", m.ID, err)
			}
			_, err = tx.ExecContext(ctx, "INSERT INTO schema_migrations (id, applied_at) VALUES (?, ?)",
				m.ID, time.Now().UTC().Format(time.RFC3339))
			return err
		})
		if err != nil {
			return applied, Wrap(err, "migrate")
		}
		if !done {
			applied = append(applied, m.ID)
		}
	}
	if err := migrateQueue(ctx, db); err != nil {
		return applied, Wrap(err, "migrate queue")
	}
	return applied, nil
}

// PendingMigrations returns the ids not applied yet; doctor reports them.
func PendingMigrations(ctx context.Context, db *DB) ([]string, error) {
	migs, err := Migrations(db.Kind)
	if err != nil {
		return nil, err
	}
	var have []string
	err = db.Read.NewSelect().Table("schema_migrations").Column("id").Scan(ctx, &have)
	if err != nil {
		if err := Wrap(err, "pending migrations"); errors.Is(err, ErrUnavailable) {
			return nil, err
		}
		have = nil // no schema_migrations table yet: nothing is applied
	}
	seen := map[string]bool{}
	for _, id := range have {
		seen[id] = true
	}
	var pending []string
	for _, m := range migs {
		if !seen[m.ID] {
			pending = append(pending, m.ID)
		}
	}
	return pending, nil
}

// Advisory lock keys, fixed so every instance agrees.
const (
	migrateLockKey int64 = 0x5e55_10d0_0001
	CleanupLockKey int64 = 0x5e55_10d0_0002
)
