package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/gob"
	"fmt"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/gofiber/fiber/v2/utils"
	"github.com/jackc/pgx/v5"
)

type seedOpts struct {
	kind, dsn             string
	sessions, live, users int
}

// row is one stored session; expiry is its deadline.
type row struct {
	token  string
	data   []byte
	expiry time.Time
}

const batch = 5000

// seed empties the peer's session table and fills it; it returns the live
// tokens, the cookie values that /api/me accepts.
func seed(ctx context.Context, o seedOpts) ([]string, error) {
	if o.sessions < 0 || o.live < 0 || o.live > o.sessions || o.users < 1 {
		return nil, fmt.Errorf("want 0 <= live <= sessions and users >= 1")
	}
	rows, live, err := makeRows(o)
	if err != nil {
		return nil, err
	}
	if err := storeRows(ctx, o.kind, o.dsn, rows); err != nil {
		return nil, err
	}
	return live, nil
}

// storeRows empties the table of kind at dsn, creating it if missing, and
// inserts rows.
func storeRows(ctx context.Context, kind, dsn string, rows []row) error {
	path, isSQLite := sqlitePath(dsn)
	switch {
	case kind == "scs" && isSQLite:
		return seedSQLite(path, scsSQLiteInit, "DELETE FROM sessions",
			"INSERT INTO sessions (token, data, expiry) VALUES (?, ?, julianday(?))", rows,
			// as sqlite3store's Commit writes the expiry
			func(r row) any { return r.expiry.UTC().Format("2006-01-02T15:04:05.999") })
	case kind == "fiber" && isSQLite:
		return seedSQLite(path, sqliteFiberInit, "DELETE FROM fiber_storage;",
			"INSERT OR REPLACE INTO fiber_storage (k, v, e) VALUES (?,?,?)", rows,
			func(r row) any { return unixCeil(r.expiry) })
	case kind == "scs" && isPostgres(dsn):
		return seedPostgres(ctx, dsn, scsPostgresInit, "TRUNCATE TABLE sessions",
			"sessions", []string{"token", "data", "expiry"}, rows,
			func(r row) any { return r.expiry })
	case kind == "fiber" && isPostgres(dsn):
		return seedPostgres(ctx, dsn, nil, "", fiberTable, []string{"k", "v", "e"}, rows,
			func(r row) any { return unixCeil(r.expiry) })
	case kind != "scs" && kind != "fiber":
		return fmt.Errorf("unknown -kind %q (want scs or fiber)", kind)
	default:
		return badDSN(dsn)
	}
}

// The schemas that sqlite3store's and pgxstore's READMEs document.
var (
	scsSQLiteInit = []string{
		`CREATE TABLE IF NOT EXISTS sessions (
	token TEXT PRIMARY KEY,
	data BLOB NOT NULL,
	expiry REAL NOT NULL
)`,
		`CREATE INDEX IF NOT EXISTS sessions_expiry_idx ON sessions(expiry)`,
	}
	scsPostgresInit = []string{
		`CREATE TABLE IF NOT EXISTS sessions (
	token TEXT PRIMARY KEY,
	data BYTEA NOT NULL,
	expiry TIMESTAMPTZ NOT NULL
)`,
		`CREATE INDEX IF NOT EXISTS sessions_expiry_idx ON sessions (expiry)`,
	}
)

// makeRows makes the sessions: the first o.live expire in 30 days, the rest
// expired an hour ago; users 1..o.users take turns.
func makeRows(o seedOpts) ([]row, []string, error) {
	now := time.Now()
	rows := make([]row, o.sessions)
	live := make([]string, 0, o.live)
	for i := range rows {
		n := int64(i%o.users + 1)
		values := map[string]interface{}{
			"userID": n,
			"name":   fmt.Sprintf("User %d", n),
			"email":  fmt.Sprintf("user%d@example.com", n),
			"role":   "user",
		}
		r := row{expiry: now.Add(30 * 24 * time.Hour)}
		if i >= o.live {
			r.expiry = now.Add(-time.Hour)
		}
		var err error
		if o.kind == "scs" {
			r.token = scsToken()
			r.data, err = scs.GobCodec{}.Encode(r.expiry, values)
		} else {
			r.token = utils.UUIDv4() // the middleware's default KeyGenerator
			r.data, err = fiberEncode(values)
		}
		if err != nil {
			return nil, nil, err
		}
		rows[i] = r
		if i < o.live {
			live = append(live, r.token)
		}
	}
	return rows, live, nil
}

// scsToken makes a token as scs's generateToken does.
func scsToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// fiberEncode encodes session data as fiber's middleware/session Save does:
// gob of a pointer to the map, in a fresh encoder.
func fiberEncode(values map[string]interface{}) ([]byte, error) {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(&values); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// unixCeil is the Unix second of t rounded up, as the fiber adapters store e.
func unixCeil(t time.Time) int64 {
	s := t.Unix()
	if t.Nanosecond() != 0 {
		s++
	}
	return s
}

func seedSQLite(path string, init []string, empty, insert string, rows []row, expiry func(row) any) error {
	db, err := openSQLite(path)
	if err != nil {
		return err
	}
	defer db.Close()
	for _, q := range append(init, empty) {
		if _, err := db.Exec(q); err != nil {
			return err
		}
	}
	for start := 0; start < len(rows); start += batch {
		if err := insertSQLite(db, insert, rows[start:min(start+batch, len(rows))], expiry); err != nil {
			return err
		}
	}
	return nil
}

func insertSQLite(db *sql.DB, insert string, rows []row, expiry func(row) any) error {
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	stmt, err := tx.Prepare(insert)
	if err != nil {
		return err
	}
	for _, r := range rows {
		if _, err := stmt.Exec(r.token, r.data, expiry(r)); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// seedPostgres runs init and empty, or for fiber (nil init) creates and
// resets the table as the storage does, then copies the rows in batches.
func seedPostgres(ctx context.Context, dsn string, init []string, empty, table string, cols []string, rows []row, expiry func(row) any) error {
	pool, err := openPostgres(ctx, dsn)
	if err != nil {
		return err
	}
	defer pool.Close()
	if init == nil {
		st, err := newPgStorage(ctx, pool)
		if err != nil {
			return err
		}
		if err := st.Reset(); err != nil {
			return err
		}
	} else {
		for _, q := range append(init, empty) {
			if _, err := pool.Exec(ctx, q); err != nil {
				return err
			}
		}
	}
	for start := 0; start < len(rows); start += batch {
		chunk := rows[start:min(start+batch, len(rows))]
		src := pgx.CopyFromSlice(len(chunk), func(i int) ([]any, error) {
			return []any{chunk[i].token, chunk[i].data, expiry(chunk[i])}, nil
		})
		if _, err := pool.CopyFrom(ctx, pgx.Identifier{table}, cols, src); err != nil {
			return err
		}
	}
	return nil
}
