package models_test

import (
	"context"
	"testing"
	"time"

	"sessiond/models"
)

// seedBenchEvents bulk-inserts n events, one a second, over a few kinds
// and users, and returns the oldest instant.
func seedBenchEvents(b *testing.B, db *models.DB, n int) time.Time {
	b.Helper()
	ctx := context.Background()
	base := time.Now().UTC().Add(-time.Duration(n) * time.Second).Truncate(time.Second)
	kinds := []string{models.EventSessionCreated, models.EventSessionExtended, models.EventSessionSignedOut, models.EventSignInFailed}
	batch := make([]models.Event, 0, 1000)
	for i := 0; i < n; i++ {
		uid := int64(i%500 + 1)
		batch = append(batch, models.Event{At: base.Add(time.Duration(i) * time.Second), Kind: kinds[i%len(kinds)], UserID: &uid, IP: "192.0.2.1", UserAgent: "bench"})
		if len(batch) == cap(batch) || i == n-1 {
			if _, err := db.NewInsert().Model(&batch).Exec(ctx); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	return base
}

// BenchmarkListEvents pages through 100,000 events: the first page, a page
// 90% of the way down (by keyset cursor), and a kind filter; a deep page
// should cost what the first one does.
func BenchmarkListEvents(b *testing.B) {
	benchEach(b, func(b *testing.B, db *models.DB) {
		ctx := context.Background()
		base := seedBenchEvents(b, db, 100_000)
		if _, err := db.ExecContext(ctx, "ANALYZE"); err != nil {
			b.Fatal(err)
		}
		deep := &models.EventCursor{At: base.Add(10_000 * time.Second), ID: 10_001}
		for _, bc := range []struct {
			name string
			f    models.EventFilter
		}{
			{"first-page", models.EventFilter{}},
			{"deep-page", models.EventFilter{After: deep}},
			{"kind-deep", models.EventFilter{Kind: models.EventSignInFailed, After: deep}},
			{"user", models.EventFilter{UserID: 42}},
		} {
			b.Run(bc.name, func(b *testing.B) {
				for b.Loop() {
					rows, _, err := models.ListEvents(ctx, db, bc.f)
					if err != nil || len(rows) != models.DefaultEventLimit {
						b.Fatalf("%d rows, %v", len(rows), err)
					}
				}
			})
		}
		b.Run("figures", func(b *testing.B) {
			for b.Loop() {
				if _, err := models.ReadFigures(ctx, db, time.Now()); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("insights", func(b *testing.B) {
			for b.Loop() {
				if _, err := models.ReadInsights(ctx, db, time.Now(), 30, 10); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}
