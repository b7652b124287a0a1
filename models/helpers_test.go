package models_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"sessiond/jobs"
	"sessiond/models"
	"sessiond/models/testdb"
)

// testPolicy is long enough that nothing expires or extends unless a test
// moves the clock on purpose.
var testPolicy = models.Policy{MaxAge: time.Hour, UpdateAge: 10 * time.Minute, TouchInterval: 5 * time.Minute}

var client = models.Client{IP: "203.0.113.7", UserAgent: "TestAgent/1.0"}

// theClient is client as Authenticate asks for it.
func theClient() models.Client { return client }

// newManager builds a SessionManager on db with clock (nil: the real clock).
func newManager(t testing.TB, db *models.DB, p models.Policy, clock *testdb.Clock) *models.SessionManager {
	t.Helper()
	var now func() time.Time
	if clock != nil {
		now = clock.Now
	}
	m, err := models.NewSessionManager(context.Background(), db, p, now)
	if err != nil {
		t.Fatalf("NewSessionManager: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	m.Cleaner = &jobs.Cleanup{DB: db, Now: m.Now, BatchSize: 10000}
	return m
}

func newToken(t testing.TB) string {
	t.Helper()
	tok, err := models.NewToken()
	if err != nil {
		t.Fatalf("NewToken: %v", err)
	}
	return tok
}

// createSession makes a session for userID expiring at expires and returns
// its token and row.
func createSession(t testing.TB, m *models.SessionManager, userID int64, expires time.Time) (string, *models.Session) {
	t.Helper()
	tok := newToken(t)
	s, err := m.CreateSession(context.Background(), tok, userID, expires, client)
	if err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	return tok, s
}

var (
	fixedHashOnce sync.Once
	fixedHash     string
)

// insertUsers adds n users directly, sharing one precomputed password hash
// ("password123"), for tests that need many users and not argon2's cost.
func insertUsers(t testing.TB, db *models.DB, prefix string, n int) []*models.User {
	t.Helper()
	fixedHashOnce.Do(func() {
		h, err := models.HashPassword("password123")
		if err != nil {
			panic(err)
		}
		fixedHash = h
	})
	now := time.Now().UTC()
	users := make([]*models.User, n)
	for i := range users {
		users[i] = &models.User{Email: testdb.Name(prefix, i), Name: fmt.Sprintf("%s %d", prefix, i),
			Role: models.RoleUser, PasswordHash: fixedHash, CreatedAt: now, UpdatedAt: now}
		if _, err := db.NewInsert().Model(users[i]).Returning("id").Exec(context.Background()); err != nil {
			t.Fatalf("insert user: %v", err)
		}
	}
	return users
}

// sessionRow reads a session straight from the table by id; ok is false
// when the row is gone.
func sessionRow(t testing.TB, db *models.DB, id int64) (s models.Session, ok bool) {
	t.Helper()
	err := db.NewSelect().Model(&s).Where("id = ?", id).Scan(context.Background())
	if errors.Is(err, sql.ErrNoRows) {
		return s, false
	}
	if err != nil {
		t.Fatalf("read session %d: %v", id, err)
	}
	return s, true
}

func countRows(t testing.TB, db *models.DB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func countSessions(t testing.TB, db *models.DB) int {
	t.Helper()
	return countRows(t, db, "SELECT COUNT(*) FROM sessions")
}

// events returns the audit events of kind, oldest first.
func events(t testing.TB, db *models.DB, kind string) []models.Event {
	t.Helper()
	var evs []models.Event
	if err := db.NewSelect().Model(&evs).Where("kind = ?", kind).Order("id").Scan(context.Background()); err != nil {
		t.Fatalf("read events %s: %v", kind, err)
	}
	return evs
}

func countAllEvents(t testing.TB, db *models.DB) int {
	t.Helper()
	return countRows(t, db, "SELECT COUNT(*) FROM session_events")
}

func sessionIDs(ss []models.Session) []int64 {
	ids := make([]int64, len(ss))
	for i, s := range ss {
		ids[i] = s.ID
	}
	return ids
}

func wantNotFound(t testing.TB, err error, what string) {
	t.Helper()
	if !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("%s: err = %v, want ErrNotFound", what, err)
	}
}

// orphanSessions counts session rows whose user no longer exists.
func orphanSessions(t testing.TB, db *models.DB) int {
	t.Helper()
	return countRows(t, db, `SELECT COUNT(*) FROM sessions s WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = s.user_id)`)
}

// allText renders every column of every row of table as text, to search
// for values that must never be stored.
func allText(t testing.TB, db *models.DB, table string) []string {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), "SELECT * FROM "+table)
	if err != nil {
		t.Fatalf("select %s: %v", table, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatalf("scan %s: %v", table, err)
		}
		for i, v := range vals {
			var s string
			switch v := v.(type) {
			case []byte:
				s = string(v)
			case nil:
			default:
				s = fmt.Sprint(v)
			}
			out = append(out, table+"."+cols[i]+"="+s)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func containsAny(vals []string, needle string) (string, bool) {
	for _, v := range vals {
		if strings.Contains(v, needle) {
			return v, true
		}
	}
	return "", false
}

func fixedNow() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
