package models_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"sessiond/jobs"
	"sessiond/models"
	"sessiond/models/testdb"
)

// TestCleanup1M_LookupLatencyDuringCleanup measures the cleanup figures:
// cleanup of 1M expired sessions beside 1M live ones, and the p99 of
// session lookups issued at a fixed 2,000/s before and during it. It takes
// minutes, so it runs only with SESSIOND_BENCH_1M=1 (SESSIOND_BENCH_ROWS
// changes the size; SESSIOND_BENCH_FIXED=1 turns the adaptive chunk size off
// for comparison). It logs figures and fails only on lookup errors or on
// rows left behind: no test asserts wall-clock time.
func TestCleanup1M_LookupLatencyDuringCleanup(t *testing.T) {
	if os.Getenv("SESSIOND_BENCH_1M") != "1" {
		t.Skip("set SESSIOND_BENCH_1M=1 to run the 1M-row cleanup figures")
	}
	rows := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("SESSIOND_BENCH_ROWS")); err == nil && v > 0 {
		rows = v
	}
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Microsecond)
		u := testdb.CreateUser(t, db, "bench1m@example.com", models.RoleUser)
		t0 := time.Now()
		tokens := seedBulk(t, db, u.ID, rows, now)
		t.Logf("%s: seeded %d expired + %d live in %v", db.Kind, rows, rows, time.Since(t0).Round(time.Millisecond))
		m := newManager(t, db, testPolicy, nil)

		before := lookupsAtRate(ctx, m, tokens, 2000, func(stop <-chan struct{}) { time.Sleep(5 * time.Second) })
		var res models.CleanupResult
		var cerr error
		job := &jobs.Cleanup{DB: db, Now: func() time.Time { return now }, BatchSize: 10000}
		if os.Getenv("SESSIOND_BENCH_FIXED") == "1" {
			job.Target = time.Hour
		}
		var chunks []jobs.CleanupChunk
		job.OnChunk = func(c jobs.CleanupChunk) { chunks = append(chunks, c) }
		during := lookupsAtRate(ctx, m, tokens, 2000, func(<-chan struct{}) {
			res, cerr = job.Run(ctx, "bench", models.Audit{})
		})
		if cerr != nil {
			t.Fatal(cerr)
		}
		var sizes []int
		var took []time.Duration
		for _, c := range chunks {
			sizes = append(sizes, c.Size)
			took = append(took, c.Took)
		}
		slices.Sort(sizes)
		slices.Sort(took)
		t.Logf("%s: cleanup deleted %d in %v (%.0f rows/s), %d chunks, size median %d, chunk time p50 %v p99 %v max %v",
			db.Kind, res.Deleted, res.Took.Round(time.Millisecond), float64(res.Deleted)/res.Took.Seconds(), res.Chunks,
			sizes[len(sizes)/2], took[len(took)/2], took[len(took)*99/100], took[len(took)-1])
		t.Logf("%s: lookups before: %s", db.Kind, before)
		t.Logf("%s: lookups during: %s", db.Kind, during)
		if before.p99 > 0 {
			t.Logf("%s: p99 during/before = %.2f×", db.Kind, float64(during.p99)/float64(before.p99))
		}
		if before.errors+during.errors > 0 {
			t.Errorf("lookup errors: %d before, %d during", before.errors, during.errors)
		}
		if res.Deleted != rows {
			t.Errorf("deleted %d, want %d", res.Deleted, rows)
		}
		if n, _ := models.CountExpired(ctx, db, now); n != 0 {
			t.Errorf("%d expired left", n)
		}
	})
}

// seedBulk inserts n expired and n live sessions with set-based SQL, plus
// 20,000 live sessions with real tokens for the lookups, returned. Expired
// and live rows alternate and expiries are spread over a month, so the
// cleanup, deleting in expiry order, touches pages all over the table and
// its indexes — as sessions that slid and lapsed at different times do,
// and as the load benchmark's fixtures are.
func seedBulk(t *testing.T, db *models.DB, userID int64, n int, now time.Time) []string {
	t.Helper()
	ctx := context.Background()
	var q string
	switch db.Kind {
	case models.SQLite:
		ts := func(sign string) string {
			// x % 43200 = 0 would expire exactly now: the minutes start at 1.
			return "strftime('%Y-%m-%d %H:%M:%S+00:00', ?, '" + sign + "' || (x % 43200 + 1) || ' minutes')"
		}
		q = `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < ?)
		INSERT INTO sessions (token_hash, user_id, expires_at, created_at, last_seen_at)
		SELECT 'bulk-' || x, ?, CASE WHEN x % 2 = 0 THEN ` + ts("-") + ` ELSE ` + ts("+") + ` END, ?, ? FROM c`
	default:
		q = `INSERT INTO sessions (token_hash, user_id, expires_at, created_at, last_seen_at)
		SELECT 'bulk-' || x, ?, ?::timestamptz + CASE WHEN x % 2 = 0 THEN -1 ELSE 1 END * (x % 43200 + 1) * interval '1 minute', ?, ?
		FROM generate_series(1, ?) AS x`
	}
	created := db.T(now.Add(-60 * 24 * time.Hour))
	var err error
	if db.Kind == models.SQLite {
		_, err = db.ExecContext(ctx, q, 2*n, userID, db.T(now), db.T(now), created, created)
	} else {
		// Millions of rows in one statement: past the 10 s statement timeout.
		err = db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			if _, err := tx.ExecContext(ctx, "SET LOCAL statement_timeout = 0"); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, q, userID, now, created, created, 2*n)
			return err
		})
	}
	if err != nil {
		t.Fatalf("seed: %v", err)
	}
	tokens := make([]string, 20000)
	rows := make([]models.Session, 0, 1000)
	for i := range tokens {
		tokens[i], _ = models.NewToken()
		rows = append(rows, models.Session{TokenHash: models.HashToken(tokens[i]), UserID: userID,
			ExpiresAt: now.Add(24 * time.Hour), CreatedAt: now, LastSeenAt: now})
		if len(rows) == cap(rows) {
			if _, err := db.NewInsert().Model(&rows).Exec(ctx); err != nil {
				t.Fatal(err)
			}
			rows = rows[:0]
		}
	}
	if db.Kind == models.Postgres { // SQLite: no STAT4 for sessions (DESIGN.md, performance)
		if _, err := db.ExecContext(ctx, "ANALYZE sessions"); err != nil {
			t.Fatal(err)
		}
	}
	return tokens
}

type latencies struct {
	n, errors          int
	p50, p99, p999, mx time.Duration
}

func (l latencies) String() string {
	return fmt.Sprintf("%d lookups, %d errors, p50 %v p99 %v p99.9 %v max %v", l.n, l.errors,
		l.p50.Round(time.Microsecond), l.p99.Round(time.Microsecond), l.p999.Round(time.Microsecond), l.mx.Round(time.Microsecond))
}

// lookupsAtRate issues lookups at a fixed rate (open loop: each has its
// own goroutine and is timed from when it was due) while work runs.
func lookupsAtRate(ctx context.Context, m *models.SessionManager, tokens []string, perSec int, work func(stop <-chan struct{})) latencies {
	var mu sync.Mutex
	var lat []time.Duration
	var errs atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	interval := time.Second / time.Duration(perSec)
	go func() {
		start := time.Now()
		for i := 0; ; i++ {
			due := start.Add(time.Duration(i) * interval)
			if d := time.Until(due); d > 0 {
				time.Sleep(d)
			}
			select {
			case <-stop:
				return
			default:
			}
			wg.Add(1)
			go func(due time.Time, tok string) {
				defer wg.Done()
				if _, err := m.GetSessionWithUser(ctx, tok); err != nil {
					errs.Add(1)
				}
				d := time.Since(due)
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}(due, tokens[rand.IntN(len(tokens))])
		}
	}()
	work(stop)
	close(stop)
	time.Sleep(10 * time.Millisecond)
	wg.Wait()
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(float64(len(lat))*p))]
	}
	return latencies{n: len(lat), errors: int(errs.Load()), p50: pct(0.50), p99: pct(0.99), p999: pct(0.999), mx: pct(1)}
}
