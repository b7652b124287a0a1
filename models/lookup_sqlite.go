package models

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// sqliteLookup runs the per-request session lookup on SQLite below
// database/sql: a few reader connections of its own, each with the
// statement prepared once, lent out one lookup at a time, without
// database/sql's statement, rows and row layers (BenchmarkAuthenticateNoCache
// weighs them); everything else still goes through database/sql and bun.
//
// The connections are opened with the readers' DSN, so they have the same
// pragmas (busy_timeout, query_only) and see every commit of the writer
// and of other processes as any reader does. Each is opened on its first
// lookup (a CLI command never opens one), and one that went bad
// (driver.ErrBadConn) is closed and replaced, as database/sql would. Once
// the DB is closed, lookups fail as its pools do; Close closes them.
type sqliteLookup struct {
	drv      driver.Driver
	dsn      string
	idle     chan *lookupConn // every slot not lent out
	closed   chan struct{}    // closed by Close
	dbClosed <-chan struct{}  // closed by DB.Close
	once     sync.Once
	n        atomic.Int64 // queries run
}

// lookupSQLite is the per-request query: prepared once per connection; no
// expiry bound (the check is done in Go), so SQLite's STAT4 samples can
// never make it recompile per value. It reads what a request needs and the
// session cache holds — no address, agent or user timestamps, which the
// list queries read where they are shown. The times are read as text:
// modernc's driver would otherwise parse each with time.Parse, a third of
// the lookup's cost; parseStoredTime reads the one format bun writes.
const lookupSQLite = `SELECT s.id, s.user_id, CAST(s.expires_at AS TEXT), CAST(s.created_at AS TEXT), CAST(s.last_seen_at AS TEXT),
	u.email, u.name, u.role, s.amr, u.group_names
FROM sessions s JOIN users u ON u.id = s.user_id
WHERE s.token_hash = ?`

type lookupConn struct {
	conn driver.Conn // nil until first use, and again after it went bad
	stmt lookupStmt  // prepared on first use: Open runs before the migrations
	// The argument and the row, reused: whoever holds the connection owns them.
	args [1]driver.NamedValue
	row  [10]driver.Value
}

type lookupStmt interface {
	driver.Stmt
	driver.StmtQueryContext
}

func newSQLiteLookup(db *DB) *sqliteLookup {
	l := newSQLiteConns(db.Read.DB.Driver(), db.readDSN, sqliteReaders)
	l.dbClosed = db.closed
	return l
}

// newSQLiteConns has room for n connections: n lookups can run at once,
// more wait for a connection.
func newSQLiteConns(drv driver.Driver, dsn string, n int) *sqliteLookup {
	l := &sqliteLookup{drv: drv, dsn: dsn, idle: make(chan *lookupConn, n), closed: make(chan struct{})}
	for range n {
		l.idle <- &lookupConn{}
	}
	return l
}

// get reads the session with token hash hash (and its user) into s and u;
// sql.ErrNoRows when there is none, sql.ErrConnDone once closed.
func (l *sqliteLookup) get(ctx context.Context, hash string, s *Session, u *User) error {
	var c *lookupConn
	select { // a closed lookup or DB answers "closed" even with a connection idle
	case <-l.closed:
		return sql.ErrConnDone
	case <-l.dbClosed:
		return sql.ErrConnDone
	default:
	}
	select {
	case <-l.closed:
		return sql.ErrConnDone
	case <-ctx.Done():
		return ctx.Err()
	case c = <-l.idle:
	}
	defer func() { l.idle <- c }()
	err := l.query(ctx, c, hash, s, u)
	if errors.Is(err, driver.ErrBadConn) { // once more, on a fresh connection
		c.close()
		err = l.query(ctx, c, hash, s, u)
	}
	if errors.Is(err, driver.ErrBadConn) {
		c.close()
	}
	return err
}

func (l *sqliteLookup) query(ctx context.Context, c *lookupConn, hash string, s *Session, u *User) error {
	if err := l.ready(ctx, c); err != nil {
		return err
	}
	c.args[0] = driver.NamedValue{Ordinal: 1, Value: hash}
	l.n.Add(1)
	rows, err := c.stmt.QueryContext(ctx, c.args[:])
	if err != nil {
		return err
	}
	err = rows.Next(c.row[:])
	if cerr := rows.Close(); err == nil {
		err = cerr
	}
	switch {
	case err == io.EOF:
		return sql.ErrNoRows
	case err != nil:
		return err
	}
	return scanLookup(&c.row, s, u)
}

// ready opens c's connection and prepares its statement, if not done yet.
func (l *sqliteLookup) ready(ctx context.Context, c *lookupConn) error {
	if c.stmt != nil {
		return nil
	}
	if c.conn == nil {
		conn, err := l.drv.Open(l.dsn)
		if err != nil {
			return err
		}
		c.conn = conn
	}
	prep, ok := c.conn.(driver.ConnPrepareContext)
	if !ok {
		return errors.New("session lookup: the sqlite driver cannot prepare with a context")
	}
	st, err := prep.PrepareContext(ctx, lookupSQLite)
	if err != nil {
		return err
	}
	q, ok := st.(lookupStmt)
	if !ok {
		st.Close()
		return errors.New("session lookup: the sqlite driver cannot query with a context")
	}
	c.stmt = q
	return nil
}

// close closes c's statement and connection, if open; the next lookup on c
// opens a fresh one.
func (c *lookupConn) close() error {
	var errs []error
	if c.stmt != nil {
		errs = append(errs, c.stmt.Close())
	}
	if c.conn != nil {
		errs = append(errs, c.conn.Close())
	}
	c.stmt, c.conn = nil, nil
	return errors.Join(errs...)
}

// scanLookup fills s and u from lookupSQLite's columns as the driver gives
// them: integers, and text for the times and the user's fields.
func scanLookup(v *[10]driver.Value, s *Session, u *User) error {
	var ok [10]bool
	var amr string
	var t [3]string
	s.ID, ok[0] = v[0].(int64)
	s.UserID, ok[1] = v[1].(int64)
	t[0], ok[2] = v[2].(string)
	t[1], ok[3] = v[3].(string)
	t[2], ok[4] = v[4].(string)
	u.Email, ok[5] = v[5].(string)
	u.Name, ok[6] = v[6].(string)
	u.Role, ok[7] = v[7].(string)
	amr, ok[8] = v[8].(string)
	u.GroupNames, ok[9] = v[9].(string)
	s.AMR = AMR(amr)
	for i, good := range ok {
		if !good {
			return fmt.Errorf("session lookup: column %d holds %T", i+1, v[i])
		}
	}
	var err error
	for i, dst := range [3]*time.Time{&s.ExpiresAt, &s.CreatedAt, &s.LastSeenAt} {
		if *dst, err = parseStoredTime(t[i]); err != nil {
			return err
		}
	}
	return nil
}

func (l *sqliteLookup) queries() int64 { return l.n.Load() }

// Close refuses new lookups, waits for those in flight and closes every
// connection. Closing again does nothing.
func (l *sqliteLookup) Close() error {
	var errs []error
	l.once.Do(func() {
		close(l.closed)
		for range cap(l.idle) {
			errs = append(errs, (<-l.idle).close())
		}
	})
	return errors.Join(errs...)
}
