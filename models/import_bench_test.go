package models_test

import (
	"context"
	"testing"
	"time"

	"sessiond/models"
	"sessiond/models/testdb"
)

// BenchmarkImportAuthJS imports 100,000 users with one account each and
// 1,000,000 live sessions from a PostgreSQL Auth.js database into SQLite
// and PostgreSQL, reporting users/s and sessions/s. It only reports:
// go test ./models -run '^$' -bench ImportAuthJS -benchtime 1x
func BenchmarkImportAuthJS(b *testing.B) {
	_, src := testdb.AuthJS(b, false)
	ctx := context.Background()
	for _, q := range []string{
		`INSERT INTO users (name, email) SELECT 'User ' || i, 'user' || i || '@example.com' FROM generate_series(1, 100000) i`,
		`INSERT INTO accounts ("userId", type, provider, "providerAccountId") SELECT i, 'oauth', 'github', i::text FROM generate_series(1, 100000) i`,
		`INSERT INTO sessions ("userId", expires, "sessionToken") SELECT 1 + (i % 100000), now() + interval '20 days', md5(i::text) || md5((i * 7)::text)
		 FROM generate_series(1, 1000000) i`,
	} {
		if _, err := src.ExecContext(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	for _, target := range []struct {
		name string
		open func(testing.TB) *models.DB
	}{{"sqlite", testdb.SQLite}, {"postgres", testdb.Postgres}} {
		b.Run(target.name, func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				db := target.open(b)
				b.StartTimer()
				sum, err := models.ImportAuthJS(ctx, db, models.AuthJSImport{Source: src, Sessions: true, Now: time.Now().UTC()})
				if err != nil {
					b.Fatal(err)
				}
				if sum.Users != 100000 || sum.Sessions != 1000000 {
					b.Fatalf("imported %+v", sum)
				}
				b.ReportMetric(float64(sum.Users)/sum.Took.Seconds(), "users/s")
				b.ReportMetric(float64(sum.Sessions)/sum.Took.Seconds(), "sessions/s")
				b.ReportMetric(sum.Took.Seconds(), "s/import")
			}
		})
	}
}
