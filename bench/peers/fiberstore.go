package main

// The two fiber.Storage types below copy the table layout and SQL of
// gofiber/storage's sqlite3 and postgres adapters (sqlite3/sqlite3.go,
// postgres/postgres.go), because the module proxy here does not serve
// github.com/gofiber/storage. Left out: their GC goroutine (a DELETE of
// expired rows every 10s), as scs's cleanup is disabled, so that neither
// peer writes during a measurement.

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

const fiberTable = "fiber_storage"

// openFiberStorage opens the storage of a DSN and creates its table if missing.
func openFiberStorage(ctx context.Context, dsn string) (fiber.Storage, error) {
	if path, ok := sqlitePath(dsn); ok {
		db, err := openSQLite(path)
		if err != nil {
			return nil, err
		}
		// The adapter's default pool settings.
		db.SetMaxOpenConns(100)
		db.SetMaxIdleConns(100)
		db.SetConnMaxLifetime(time.Second)
		return newSQLiteStorage(db)
	}
	if isPostgres(dsn) {
		pool, err := openPostgres(ctx, dsn)
		if err != nil {
			return nil, err
		}
		return newPgStorage(ctx, pool)
	}
	return nil, badDSN(dsn)
}

// fiberExpired is the adapters' test: e is a Unix second, 0 for never.
func fiberExpired(e int64) bool {
	return e != 0 && e <= time.Now().Unix()
}

// fiberExpiry is how the adapters store a lifetime: the deadline's Unix
// second, rounded up.
func fiberExpiry(exp time.Duration) int64 {
	if exp <= 0 {
		return 0
	}
	deadline := time.Now().Add(exp)
	s := deadline.Unix()
	if deadline.Nanosecond() != 0 {
		s++
	}
	return s
}

type sqliteStorage struct{ db *sql.DB }

var sqliteFiberInit = []string{
	`CREATE TABLE IF NOT EXISTS fiber_storage (
			k  VARCHAR(64) PRIMARY KEY NOT NULL DEFAULT '',
			v  BLOB NOT NULL,
			e  BIGINT NOT NULL DEFAULT '0'
		);`,
	`CREATE INDEX IF NOT EXISTS e ON fiber_storage (e);`,
}

func newSQLiteStorage(db *sql.DB) (*sqliteStorage, error) {
	for _, q := range sqliteFiberInit {
		if _, err := db.Exec(q); err != nil {
			db.Close()
			return nil, err
		}
	}
	return &sqliteStorage{db: db}, nil
}

func (s *sqliteStorage) Get(key string) ([]byte, error) {
	if len(key) <= 0 {
		return nil, nil
	}
	var (
		data       = []byte{}
		exp  int64 = 0
	)
	err := s.db.QueryRow(`SELECT v, e FROM fiber_storage WHERE k=?;`, key).Scan(&data, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	if fiberExpired(exp) {
		return nil, nil
	}
	return data, nil
}

func (s *sqliteStorage) Set(key string, val []byte, exp time.Duration) error {
	if len(key) <= 0 || len(val) <= 0 {
		return nil
	}
	_, err := s.db.Exec("INSERT OR REPLACE INTO fiber_storage (k, v, e) VALUES (?,?,?)", key, val, fiberExpiry(exp))
	return err
}

func (s *sqliteStorage) Delete(key string) error {
	if len(key) <= 0 {
		return nil
	}
	_, err := s.db.Exec("DELETE FROM fiber_storage WHERE k=?", key)
	return err
}

func (s *sqliteStorage) Reset() error {
	_, err := s.db.Exec("DELETE FROM fiber_storage;")
	return err
}

func (s *sqliteStorage) Close() error { return s.db.Close() }

type pgStorage struct {
	db                                        *pgxpool.Pool
	sqlSelect, sqlInsert, sqlDelete, sqlReset string
}

func newPgStorage(ctx context.Context, db *pgxpool.Pool) (*pgStorage, error) {
	const schema = "public"
	full := pgx.Identifier{schema, fiberTable}.Sanitize()
	hash := sha256.Sum256([]byte(schema + "." + fiberTable + ".e"))
	index := pgx.Identifier{"idx_e_" + hex.EncodeToString(hash[:6])}.Sanitize()

	var count int
	err := db.QueryRow(ctx, `SELECT COUNT(table_name)
		FROM information_schema.tables
		WHERE table_schema = $1
		AND table_name = $2;`, schema, fiberTable).Scan(&count)
	if err == nil && count == 0 {
		for _, q := range []string{
			fmt.Sprintf(`CREATE TABLE %s (
			k  TEXT PRIMARY KEY NOT NULL DEFAULT '',
			v  BYTEA NOT NULL,
			e  BIGINT NOT NULL DEFAULT '0'
		);`, full),
			fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %s ON %s (e);`, index, full),
		} {
			if _, err = db.Exec(ctx, q); err != nil {
				break
			}
		}
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	return &pgStorage{
		db:        db,
		sqlSelect: fmt.Sprintf(`SELECT v, e FROM %s WHERE k=$1;`, full),
		sqlInsert: fmt.Sprintf("INSERT INTO %s (k, v, e) VALUES ($1, $2, $3) ON CONFLICT (k) DO UPDATE SET v = $4, e = $5", full),
		sqlDelete: fmt.Sprintf("DELETE FROM %s WHERE k=$1", full),
		sqlReset:  fmt.Sprintf("TRUNCATE TABLE %s;", full),
	}, nil
}

func (s *pgStorage) Get(key string) ([]byte, error) {
	if len(key) <= 0 {
		return nil, nil
	}
	var (
		data []byte
		exp  int64 = 0
	)
	err := s.db.QueryRow(context.Background(), s.sqlSelect, key).Scan(&data, &exp)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	if fiberExpired(exp) {
		return nil, nil
	}
	return data, nil
}

func (s *pgStorage) Set(key string, val []byte, exp time.Duration) error {
	if len(key) <= 0 || len(val) <= 0 {
		return nil
	}
	e := fiberExpiry(exp)
	_, err := s.db.Exec(context.Background(), s.sqlInsert, key, val, e, val, e)
	return err
}

func (s *pgStorage) Delete(key string) error {
	if len(key) <= 0 {
		return nil
	}
	_, err := s.db.Exec(context.Background(), s.sqlDelete, key)
	return err
}

func (s *pgStorage) Reset() error {
	_, err := s.db.Exec(context.Background(), s.sqlReset)
	return err
}

func (s *pgStorage) Close() error {
	s.db.Close()
	return nil
}
