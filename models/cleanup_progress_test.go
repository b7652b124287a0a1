package models_test

import (
	"context"
	"testing"
	"time"

	"sessiond/models"
	"sessiond/models/testdb"
)

// TestCleanup_MarksAbandonedRuns_OnSQLiteOnlyOnceStale: a run left
// unfinished is marked abandoned (finished at its last progress) by the
// next run: on PostgreSQL at once (the next run holds the lock every run
// holds), on SQLite only once it has made no progress for ten minutes,
// since another process may still be in it.
func TestCleanup_MarksAbandonedRuns_OnSQLiteOnlyOnceStale(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		now := fixedNow()
		insert := func(progress time.Time) int64 {
			r := &models.CleanupRun{Trigger: models.TriggerCLI, StartedAt: progress.Add(-time.Minute), ProgressAt: &progress, Deleted: 7}
			if _, err := db.NewInsert().Model(r).Exec(ctx); err != nil {
				t.Fatal(err)
			}
			return r.ID
		}
		fresh, stale := insert(now.Add(-time.Minute)), insert(now.Add(-11*time.Minute))
		if _, err := models.Cleanup(ctx, db, now, models.CleanupOptions{Trigger: models.TriggerSchedule}); err != nil {
			t.Fatal(err)
		}
		get := func(id int64) models.CleanupRun {
			var r models.CleanupRun
			if err := db.NewSelect().Model(&r).Where("id = ?", id).Scan(ctx); err != nil {
				t.Fatal(err)
			}
			return r
		}
		if r := get(stale); r.Error != models.CleanupAbandoned || r.FinishedAt == nil || !r.FinishedAt.Equal(*r.ProgressAt) || r.Deleted != 7 {
			t.Fatalf("stale run: %+v", r)
		}
		r := get(fresh)
		if db.Kind == models.SQLite && (r.FinishedAt != nil || r.Error != "") {
			t.Fatalf("a run another process may be in was marked: %+v", r)
		}
		if db.Kind == models.Postgres && r.Error != models.CleanupAbandoned {
			t.Fatalf("unfinished run while holding the lock not marked: %+v", r)
		}
	})
}
