package app

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"sort"
	"testing"
	"time"

	"sessiond/models"
	"sessiond/models/testdb"
)

// BenchmarkAdminSessions1M measures the console's JSON routes on a
// database already seeded with `sessiond seed --sessions 1000000`, named
// by SESSIOND_BENCH_DB (a DATABASE_URL). It is off unless
// SESSIOND_BENCH_1M=1, so ordinary runs stay fast. It reports p50 in ms:
//
//	SESSIOND_BENCH_1M=1 SESSIOND_BENCH_DB=sqlite:/tmp/seed1m.db \
//	  go test ./app -run '^$' -bench AdminSessions1M -benchtime 200x
func BenchmarkAdminSessions1M(b *testing.B) {
	if os.Getenv("SESSIOND_BENCH_1M") != "1" || os.Getenv("SESSIOND_BENCH_DB") == "" {
		b.Skip("set SESSIOND_BENCH_1M=1 and SESSIOND_BENCH_DB to a seeded database")
	}
	ctx := context.Background()
	db, err := models.Open(ctx, os.Getenv("SESSIOND_BENCH_DB"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if db.Kind == models.Postgres {
		_, _ = db.ExecContext(ctx, "VACUUM ANALYZE sessions")
	}
	a := newTestApp(b, db, map[string]string{"LOG_LEVEL": "error"})
	a.clock.Set(time.Now().UTC().Truncate(time.Microsecond))
	admin := testdb.CreateUser(b, db, fmt.Sprintf("bench-admin-%d@example.com", time.Now().UnixNano()), models.RoleAdmin)
	c := a.client()
	c.login(admin.Email, "password123")

	total, err := db.Read.NewSelect().Model((*models.Session)(nil)).Count(ctx)
	if err != nil {
		b.Fatal(err)
	}
	var deep models.Session // nine tenths down, whatever size was seeded
	if err := db.Read.NewSelect().Model(&deep).Column("id", "created_at").
		Order("created_at DESC", "id DESC").Offset(total * 9 / 10).Limit(1).Scan(ctx); err != nil {
		b.Fatalf("deep row (is the database seeded with 1M sessions?): %v", err)
	}
	cursor := models.SessionCursor{CreatedAt: deep.CreatedAt, ID: deep.ID}.Encode()
	for _, bc := range []struct{ name, path string }{
		{"first-page", "/admin/sessions"},
		{"deep-cursor", "/admin/sessions?cursor=" + cursor},
		{"sort-last-seen", "/admin/sessions?sort=-last_seen"}, // no index: a scan with a top-N sort
		{"sort-expires", "/admin/sessions?sort=expires"},
		{"stats", "/admin/sessions/stats"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var lat []time.Duration
			for b.Loop() {
				start := time.Now()
				resp := c.request("GET", bc.path, nil, http.Header{"Accept": {"application/json"}})
				readBody(b, resp)
				lat = append(lat, time.Since(start))
				if resp.StatusCode != 200 {
					b.Fatalf("%s: %d", bc.path, resp.StatusCode)
				}
			}
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		})
	}
}
