// Package testdb opens throwaway, migrated databases for tests: a temp
// SQLite file always, and a fresh PostgreSQL schema when one is reachable.
package testdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"sessiond/models"
)

// DefaultPostgresURL is used when TEST_DATABASE_URL is unset.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// Each runs fn as a subtest on SQLite and on PostgreSQL. PostgreSQL is
// skipped when unreachable, unless SESSIOND_REQUIRE_POSTGRES=1.
func Each(t *testing.T, fn func(t *testing.T, db *models.DB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLite(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, Postgres(t)) })
}

// EachURL runs fn as a subtest on SQLite and on PostgreSQL with a fresh,
// empty database's URL, for tests that open it more than once (two
// instances, a restart) or hand it to another process.
func EachURL(t *testing.T, fn func(t *testing.T, url string)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLiteURL(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, PostgresURL(t)) })
}

// SQLite opens a migrated database in a temp file.
func SQLite(t testing.TB) *models.DB {
	t.Helper()
	url := "sqlite:" + filepath.Join(t.TempDir(), "test.db")
	return Open(t, url)
}

// SQLiteURL returns a fresh SQLite URL without opening it (for tests that
// start the real binary).
func SQLiteURL(t testing.TB) string {
	return "sqlite:" + filepath.Join(t.TempDir(), "test.db")
}

// Postgres opens a migrated database in a new schema, dropped at the end.
func Postgres(t testing.TB) *models.DB {
	t.Helper()
	return Open(t, PostgresURL(t))
}

// PostgresURL creates a new empty schema and returns a URL whose
// search_path points at it; the schema is dropped when the test ends.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv("TEST_DATABASE_URL")
	if base == "" {
		base = DefaultPostgresURL
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	admin, err := models.Open(ctx, base)
	if err != nil {
		if os.Getenv("SESSIOND_REQUIRE_POSTGRES") == "1" {
			t.Fatalf("PostgreSQL required but unreachable: %v", err)
		}
		t.Skipf("PostgreSQL unreachable (set SESSIOND_REQUIRE_POSTGRES=1 to fail): %v", err)
	}
	defer admin.Close()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "t_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		db, err := models.Open(ctx, base)
		if err != nil {
			return
		}
		defer db.Close()
		_, _ = db.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE")
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Open opens and migrates the database at url, closed when the test ends:
// a second connection pool to a database a test already has, as another
// instance would open it.
func Open(t testing.TB, url string) *models.DB {
	t.Helper()
	ctx := context.Background()
	db, err := models.Open(ctx, url)
	if err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := models.Migrate(ctx, db); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return db
}

// Clock is an adjustable clock for tests, safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock starts a clock at the current instant (so rows it stamps sort
// sensibly beside real ones), truncated to what the database stores.
func NewClock() *Clock { return &Clock{t: time.Now().UTC().Truncate(time.Microsecond)} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// CreateUser inserts a user with a known password ("password123").
func CreateUser(t testing.TB, db *models.DB, email, role string) *models.User {
	t.Helper()
	u, err := models.CreateUser(context.Background(), db, models.NewUser{
		Email: email, Name: "User " + email, Role: role, Password: "password123",
	}, time.Now())
	if err != nil {
		t.Fatalf("create user %s: %v", email, err)
	}
	return u
}

// Name helps tests give unique emails.
func Name(prefix string, i int) string { return fmt.Sprintf("%s%d@example.com", prefix, i) }

// SeedSessions inserts n sessions of userID expiring at exp, in bulk and
// without events; their tokens are random and unknown.
func SeedSessions(t testing.TB, db *models.DB, userID int64, n int, exp time.Time) {
	t.Helper()
	for done := 0; done < n; {
		k := min(n-done, 500)
		rows := make([]models.Session, k)
		for i := range rows {
			tok, _ := models.NewToken()
			rows[i] = models.Session{TokenHash: models.HashToken(tok), UserID: userID, ExpiresAt: exp.UTC(),
				CreatedAt: exp.Add(-time.Hour).UTC(), LastSeenAt: exp.Add(-time.Hour).UTC()}
		}
		if _, err := db.NewInsert().Model(&rows).Exec(context.Background()); err != nil {
			t.Fatalf("seed sessions: %v", err)
		}
		done += k
	}
}

// SyncBuffer collects log output safely from many goroutines.
type SyncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
