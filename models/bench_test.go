package models_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"sessiond/models"
	"sessiond/models/testdb"
)

// benchEach runs fn as sqlite and postgres sub-benchmarks; PostgreSQL skips
// when unreachable unless SESSIOND_REQUIRE_POSTGRES=1 (testdb.Postgres).
func benchEach(b *testing.B, fn func(b *testing.B, db *models.DB)) {
	b.Run("sqlite", func(b *testing.B) { fn(b, testdb.SQLite(b)) })
	b.Run("postgres", func(b *testing.B) { fn(b, testdb.Postgres(b)) })
}

// benchSession makes one user with one live session among a few hundred
// others, so the index lookup is not trivially small.
func benchSession(b *testing.B, db *models.DB, m *models.SessionManager) string {
	b.Helper()
	users := insertUsers(b, db, "bench", 20)
	var tok string
	for i := range 200 {
		tok, _ = createSession(b, m, users[i%len(users)].ID, time.Now().Add(m.Policy().MaxAge))
	}
	return tok
}

// BenchmarkSessionLookup is the per-request cost of an authenticated
// request when no refresh is due: the prepared lookup plus Validate.
func BenchmarkSessionLookup(b *testing.B) {
	benchEach(b, func(b *testing.B, db *models.DB) {
		ctx := context.Background()
		m := newManager(b, db, models.DefaultPolicy, nil)
		tok := benchSession(b, db, m)
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			s, err := m.GetSessionWithUser(ctx, tok)
			if err != nil {
				b.Fatal(err)
			}
			v, err := m.Validate(ctx, s, theClient)
			if err != nil || v.Extended {
				b.Fatalf("Validate = %+v, %v", v, err)
			}
		}
		b.StopTimer()
		if w := m.ExtendWrites.Load() + m.TouchWrites.Load(); w != 0 {
			b.Fatalf("%d writes during lookups, want 0", w)
		}
	})
}

// BenchmarkBarePreparedQuery is the floor the lookup is measured against:
// one prepared single-column query by token hash on the read pool.
func BenchmarkBarePreparedQuery(b *testing.B) {
	benchEach(b, func(b *testing.B, db *models.DB) {
		ctx := context.Background()
		m := newManager(b, db, models.DefaultPolicy, nil)
		hash := models.HashToken(benchSession(b, db, m))
		stmt, err := db.Read.DB.PrepareContext(ctx, db.Rebind("SELECT id FROM sessions WHERE token_hash = ?"))
		if err != nil {
			b.Fatal(err)
		}
		defer stmt.Close()
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			var id int64
			if err := stmt.QueryRowContext(ctx, hash).Scan(&id); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkSessionCacheHit is Authenticate answered from the cache: the
// token check, its SHA-256, the LRU and the rebuilt Session.
func BenchmarkSessionCacheHit(b *testing.B) {
	db := testdb.SQLite(b)
	ctx := context.Background()
	m := newManager(b, db, models.DefaultPolicy, nil)
	m.SetCache(models.NewSessionCache(time.Hour, 100000))
	tok := benchSession(b, db, m)
	if _, err := m.Authenticate(ctx, tok, theClient); err != nil {
		b.Fatal(err)
	}
	c := m.Cache()
	hits, _ := c.Counts()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := m.Authenticate(ctx, tok, theClient); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if after, _ := c.Counts(); after-hits != int64(b.N) {
		b.Fatalf("%d hits for %d lookups", after-hits, b.N)
	}
}

// BenchmarkAuthenticateNoCache is the whole per-request check on the
// database (SESSION_CACHE_TTL=0).
func BenchmarkAuthenticateNoCache(b *testing.B) {
	benchEach(b, func(b *testing.B, db *models.DB) {
		ctx := context.Background()
		m := newManager(b, db, models.DefaultPolicy, nil)
		tok := benchSession(b, db, m)
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			if _, err := m.Authenticate(ctx, tok, theClient); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkPostgresValidationVsBarePgx runs, on one schema in one run, the
// uncached Authenticate (database/sql over pgx's stdlib driver, prepared)
// and a bare pgx.Conn prepared query of the same row: the goal is the
// former at ≥ 0.8× the latter's rate (ns/op ratio ≤ 1.25).
func BenchmarkPostgresValidationVsBarePgx(b *testing.B) {
	url := testdb.PostgresURL(b)
	ctx := context.Background()
	db := testdb.Open(b, url)
	m := newManager(b, db, models.DefaultPolicy, nil)
	tok := benchSession(b, db, m)
	b.Run("authenticate", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := m.Authenticate(ctx, tok, theClient); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("bare-pgx", func(b *testing.B) {
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Prepare(ctx, "lookup", `SELECT s.id, s.user_id, s.expires_at, s.created_at, s.last_seen_at, s.ip, s.user_agent,
			u.email, u.name, u.role, u.created_at, u.updated_at FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1`); err != nil {
			b.Fatal(err)
		}
		hash := models.HashToken(tok)
		b.ReportAllocs()
		for b.Loop() {
			var s models.Session
			var u models.User
			if err := conn.QueryRow(ctx, "lookup", hash).Scan(&s.ID, &s.UserID, &s.ExpiresAt, &s.CreatedAt, &s.LastSeenAt,
				&s.IP, &s.UserAgent, &u.Email, &u.Name, &u.Role, &u.CreatedAt, &u.UpdatedAt); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkLookupHandRolledVsPlain weighs each dialect's lookup against its
// plain form (UsePlainLookup): the uncached Authenticate, many at once as
// under load, and the queries they took.
func BenchmarkLookupHandRolledVsPlain(b *testing.B) {
	for _, plain := range []bool{false, true} {
		name := "hand-rolled"
		if plain {
			name = "plain"
		}
		b.Run(name, func(b *testing.B) {
			benchEach(b, func(b *testing.B, db *models.DB) {
				ctx := context.Background()
				m := newManager(b, db, models.DefaultPolicy, nil)
				if plain {
					if err := m.UsePlainLookup(ctx); err != nil {
						b.Fatal(err)
					}
				}
				tok := benchSession(b, db, m)
				q0 := m.LookupQueries()
				b.SetParallelism(16)
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := m.Authenticate(ctx, tok, theClient); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.ReportMetric(float64(m.LookupQueries()-q0)/float64(b.N), "queries/op")
			})
		})
	}
}

// BenchmarkTouchWrites is the cost of a request due a last-seen touch
// (one per session per SESSION_TOUCH_INTERVAL), from concurrent requests
// as a server sees them: under steady traffic these are the writes. A
// server writes them behind, once a second, so that is measured: the
// request's share and the writes beside it (the rest at Close).
func BenchmarkTouchWrites(b *testing.B) {
	benchEach(b, func(b *testing.B, db *models.DB) {
		ctx := context.Background()
		m := newManager(b, db, models.Policy{MaxAge: 30 * 24 * time.Hour, UpdateAge: 30 * 24 * time.Hour, TouchInterval: 0}, nil)
		behind := m.WriteTouchesBehind(time.Second)
		defer behind.Close()
		benchSession(b, db, m)
		var sessions []*models.Session
		if err := db.NewSelect().Model(&sessions).Limit(200).Scan(ctx); err != nil {
			b.Fatal(err)
		}
		var next atomic.Int64
		b.ReportAllocs()
		b.ResetTimer()
		b.SetParallelism(16) // requests in flight at once, as wrk -c64 on 2 cores keeps them
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				s := *sessions[next.Add(1)%int64(len(sessions))]
				if _, err := m.Validate(ctx, &s, theClient); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkTouchFlush is the write behind a touch as a busy server pays
// it: under steady traffic every touch names another row of a large
// table (BenchmarkTouchWrites's 200 sessions coalesce instead). Each op
// is one request due a touch among 100,000 live sessions, each session
// once; the writes behind run every 1,000 requests.
func BenchmarkTouchFlush(b *testing.B) {
	benchEach(b, func(b *testing.B, db *models.DB) {
		ctx := context.Background()
		m := newManager(b, db, models.Policy{MaxAge: 30 * 24 * time.Hour, UpdateAge: 30 * 24 * time.Hour, TouchInterval: 0}, nil)
		behind := m.WriteTouchesBehind(time.Hour) // written only by the loop's flushes
		defer behind.Close()
		if _, err := models.Seed(ctx, db, models.SeedOptions{Users: 1000, Sessions: 100_000, Now: time.Now(), PasswordHash: "x", Seed: 1}, nil); err != nil {
			b.Fatal(err)
		}
		var sessions []*models.Session
		if err := db.NewSelect().Model(&sessions).Where("expires_at > ?", db.T(time.Now())).Scan(ctx); err != nil {
			b.Fatal(err)
		}
		w0 := m.TouchWrites.Load()
		b.ReportAllocs()
		b.ResetTimer()
		i := 0
		for b.Loop() {
			s := *sessions[i%len(sessions)]
			if _, err := m.Validate(ctx, &s, theClient); err != nil {
				b.Fatal(err)
			}
			if i++; i%1000 == 0 {
				m.FlushTouches()
			}
		}
		m.FlushTouches()
		b.StopTimer()
		if w := m.TouchWrites.Load() - w0; w != int64(b.N) {
			b.Fatalf("%d touch writes, want %d", w, b.N)
		}
	})
}
