package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/mattn/go-sqlite3" // cgo: the driver gofiber/storage/sqlite3 and scs's sqlite3store are made for
)

// sqlitePath returns the file of a sqlite:/path DSN, and false for any other.
func sqlitePath(dsn string) (string, bool) {
	path, ok := strings.CutPrefix(dsn, "sqlite:")
	return path, ok
}

func isPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// openSQLite opens the file in WAL mode with a busy timeout, set on every
// pooled connection through go-sqlite3's DSN parameters.
func openSQLite(path string) (*sql.DB, error) {
	q := url.Values{"_busy_timeout": {"5000"}, "_journal_mode": {"WAL"}, "_synchronous": {"NORMAL"}}
	db, err := sql.Open("sqlite3", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func openPostgres(ctx context.Context, dsn string) (*pgxpool.Pool, error) {
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return nil, err
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

func badDSN(dsn string) error {
	return fmt.Errorf("-db %q: want sqlite:/path/to/file.db or postgres://...", dsn)
}
