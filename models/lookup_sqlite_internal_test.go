package models

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// A column of an unexpected type (SQLite lets any column hold any type) is
// an error naming the column, never a panic or a zero value.
func TestScanLookup_UnexpectedType_IsAnError(t *testing.T) {
	good := [10]driver.Value{int64(7), int64(3), "2026-01-02 03:04:05+00:00", "2026-01-01 00:00:00+00:00",
		"2026-01-01 00:00:00+00:00", "a@example.com", "A", RoleUser, "pwd,otp", "dev,ops"}
	var s Session
	var u User
	if err := scanLookup(&good, &s, &u); err != nil || s.ID != 7 || s.UserID != 3 || u.Email != "a@example.com" || s.ExpiresAt.Day() != 2 || s.AMR != "pwd,otp" || u.GroupNames != "dev,ops" {
		t.Fatalf("good row: %v, %+v %+v", err, s, u)
	}
	for col, bad := range map[int]driver.Value{0: "7", 2: int64(5), 6: []byte("A"), 7: nil, 8: int64(1), 9: nil} {
		v := good
		v[col] = bad
		err := scanLookup(&v, &s, &u)
		if err == nil || !strings.Contains(err.Error(), "column") {
			t.Errorf("column %d holding %T: err = %v, want an error naming the column", col+1, bad, err)
		}
	}
	v := good
	v[4] = "yesterday"
	if err := scanLookup(&v, &s, &u); err == nil {
		t.Error("an unreadable time: no error")
	}
}

// fakeDriver hands out connections whose lookup answers one good row, or
// driver.ErrBadConn while bad is set, or fail (after delay) when that is
// set; it counts what is opened and closed.
type fakeDriver struct {
	mu             sync.Mutex
	bad            bool
	fail           error
	delay          time.Duration
	opened, closed int
}

// Connect and Driver make it a driver.Connector, for sql.OpenDB.
func (d *fakeDriver) Connect(context.Context) (driver.Conn, error) { return d.Open("") }
func (d *fakeDriver) Driver() driver.Driver                        { return d }

func (d *fakeDriver) Open(string) (driver.Conn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.opened++
	return &fakeConn{d: d}, nil
}

type fakeConn struct{ d *fakeDriver }

func (c *fakeConn) Prepare(string) (driver.Stmt, error) { return fakeStmt{c.d}, nil }
func (c *fakeConn) PrepareContext(context.Context, string) (driver.Stmt, error) {
	return fakeStmt{c.d}, nil
}
func (c *fakeConn) Begin() (driver.Tx, error) { return nil, errors.New("no transactions") }

// CheckNamedValue lets any argument through, as pgx's does ([]string too).
func (c *fakeConn) CheckNamedValue(*driver.NamedValue) error { return nil }
func (c *fakeConn) Close() error {
	c.d.mu.Lock()
	defer c.d.mu.Unlock()
	c.d.closed++
	return nil
}

type fakeStmt struct{ d *fakeDriver }

func (fakeStmt) Close() error                               { return nil }
func (fakeStmt) NumInput() int                              { return 1 }
func (fakeStmt) Exec([]driver.Value) (driver.Result, error) { return nil, errors.New("no exec") }
func (fakeStmt) Query([]driver.Value) (driver.Rows, error) {
	return nil, errors.New("use QueryContext")
}
func (st fakeStmt) QueryContext(context.Context, []driver.NamedValue) (driver.Rows, error) {
	st.d.mu.Lock()
	defer st.d.mu.Unlock()
	if st.d.fail != nil {
		time.Sleep(st.d.delay) // under the lock: the queries of one test queue anyway
		return nil, st.d.fail
	}
	if st.d.bad {
		st.d.bad = false // the next connection is good
		return nil, driver.ErrBadConn
	}
	return &fakeRows{}, nil
}

type fakeRows struct{ done bool }

func (*fakeRows) Columns() []string { return make([]string, 10) }
func (*fakeRows) Close() error      { return nil }
func (r *fakeRows) Next(dest []driver.Value) error {
	if r.done {
		return io.EOF
	}
	r.done = true
	copy(dest, []driver.Value{int64(7), int64(3), "2026-01-02 03:04:05+00:00", "2026-01-01 00:00:00+00:00",
		"2026-01-01 00:00:00+00:00", "a@example.com", "A", RoleUser, "pwd", ""})
	return nil
}

func (d *fakeDriver) counts() (opened, closed int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.opened, d.closed
}

// The lookup opens a connection on its first use, not before (a CLI command
// never looks a session up), keeps it, and Close closes what was opened.
func TestSQLiteLookup_OpensConnectionsOnFirstUse(t *testing.T) {
	d := &fakeDriver{}
	l := newSQLiteConns(d, "", 4)
	if o, _ := d.counts(); o != 0 {
		t.Fatalf("opened %d connections before any lookup", o)
	}
	var s Session
	var u User
	for range 10 {
		if err := l.get(context.Background(), "h", &s, &u); err != nil || s.ID != 7 {
			t.Fatalf("get: %v, %+v", err, s)
		}
	}
	if o, _ := d.counts(); o != 4 {
		t.Fatalf("ten lookups in turn over 4 slots opened %d connections, want each slot's once", o)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if o, c := d.counts(); c != o {
		t.Fatalf("after Close: %d opened, %d closed", o, c)
	}
}

// A connection that went bad is closed and the lookup runs again on a fresh
// one, so the request is answered instead of failing with 503.
func TestSQLiteLookup_BadConnection_IsReplaced(t *testing.T) {
	d := &fakeDriver{}
	l := newSQLiteConns(d, "", 1)
	defer l.Close()
	var s Session
	var u User
	if err := l.get(context.Background(), "h", &s, &u); err != nil {
		t.Fatal(err)
	}
	d.mu.Lock()
	d.bad = true
	d.mu.Unlock()
	s = Session{}
	if err := l.get(context.Background(), "h", &s, &u); err != nil || s.ID != 7 {
		t.Fatalf("lookup on a connection gone bad: %v, %+v; want it answered on a fresh connection", err, s)
	}
	if o, c := d.counts(); o != 2 || c != 1 {
		t.Fatalf("%d opened, %d closed; want the bad one closed and one more opened", o, c)
	}
}
