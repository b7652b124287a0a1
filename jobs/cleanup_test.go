package jobs_test

import (
	"cmp"
	"context"
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

func fixedNow() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// cleanupOptions are one run's trigger and the job's settings.
type cleanupOptions struct {
	Trigger           string
	BatchSize         int // 10,000 when zero, the configuration's default
	Target, Retention time.Duration
	OnChunk           func(jobs.CleanupChunk)
}

// runCleanup runs the cleanup job on db once, its clock stopped at now.
func runCleanup(ctx context.Context, db *models.DB, now time.Time, o cleanupOptions) (models.CleanupResult, error) {
	c := &jobs.Cleanup{DB: db, Now: func() time.Time { return now }, BatchSize: cmp.Or(o.BatchSize, 10000),
		Target: o.Target, Retention: o.Retention, OnChunk: o.OnChunk}
	return c.Run(ctx, o.Trigger, models.Audit{})
}

func countSessions(t testing.TB, db *models.DB) int {
	t.Helper()
	n, err := db.NewSelect().Table("sessions").Count(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return int(n)
}

func TestCleanup_DeletesOnlyExpiredAtOrBeforeNow_LiveSessionsOfEveryUserStay(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		now := fixedNow()
		for i := range 3 {
			u := testdb.CreateUser(t, db, testdb.Name("boundary", i), models.RoleUser)
			testdb.SeedSessions(t, db, u.ID, 2, now.Add(-time.Hour))       // expired
			testdb.SeedSessions(t, db, u.ID, 1, now)                       // expiring exactly now: expired
			testdb.SeedSessions(t, db, u.ID, 1, now.Add(time.Microsecond)) // just alive
			testdb.SeedSessions(t, db, u.ID, 3, now.Add(time.Hour))        // alive
		}
		st, err := models.CountSessionStates(ctx, db, now)
		if err != nil {
			t.Fatal(err)
		}
		if want := (models.SessionCounts{Active: 12, Expired: 9, ExpiringWithin24h: 12, UsersWithSessions: 3}); st != want {
			t.Fatalf("stats before = %+v, want %+v", st, want)
		}
		res, err := runCleanup(ctx, db, now, cleanupOptions{Trigger: models.TriggerCLI})
		if err != nil {
			t.Fatal(err)
		}
		if res.Deleted != 9 || res.Skipped {
			t.Fatalf("result = %+v, want 9 deleted", res)
		}
		if n := countSessions(t, db); n != 12 {
			t.Fatalf("%d sessions left, want 12", n)
		}
		users, _, err := models.ListUsers(ctx, db, "", 100, 0, now)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range users {
			if u.ActiveSessions != 4 {
				t.Errorf("%s has %d active sessions, want 4", u.Email, u.ActiveSessions)
			}
		}
		runs, err := models.ListCleanupRuns(ctx, db, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(runs) != 1 || runs[0].Trigger != "cli" || runs[0].Deleted != 9 || runs[0].Error != "" || runs[0].FinishedAt == nil {
			t.Fatalf("runs = %+v", runs)
		}
		var events []models.Event
		if err := db.NewSelect().Model(&events).Where("kind = ?", models.EventCleanupRun).Scan(ctx); err != nil {
			t.Fatal(err)
		}
		if len(events) != 1 || !strings.Contains(events[0].Detail, "deleted 9 ") || !strings.Contains(events[0].Detail, "trigger cli") {
			t.Fatalf("want one summary event, got %+v", events)
		}
	})
}

func TestCleanup_DryRun_DeletesNothingAndCountsWhatARealRunDeletes(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		now := fixedNow()
		u := testdb.CreateUser(t, db, "dry@example.com", models.RoleUser)
		testdb.SeedSessions(t, db, u.ID, 37, now.Add(-time.Minute))
		testdb.SeedSessions(t, db, u.ID, 5, now)
		testdb.SeedSessions(t, db, u.ID, 11, now.Add(time.Minute))
		dry, _, err := (&jobs.Cleanup{DB: db, Now: func() time.Time { return now }, BatchSize: 7}).Pending(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n := countSessions(t, db); n != 53 {
			t.Fatalf("dry run changed the table: %d rows", n)
		}
		if runs, _ := models.ListCleanupRuns(ctx, db, 10); len(runs) != 0 {
			t.Fatalf("dry run recorded a run: %+v", runs)
		}
		real, err := runCleanup(ctx, db, now, cleanupOptions{Trigger: "cli", BatchSize: 7})
		if err != nil {
			t.Fatal(err)
		}
		if dry != 42 || real.Deleted != dry {
			t.Fatalf("dry run said %d, real run deleted %d (want 42)", dry, real.Deleted)
		}
	})
}

func TestCleanup_ChunkOf7_100Expired_15Chunks_EachCommittedOnItsOwn(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		now := fixedNow()
		u := testdb.CreateUser(t, db, "chunks@example.com", models.RoleUser)
		testdb.SeedSessions(t, db, u.ID, 100, now.Add(-time.Hour))
		testdb.SeedSessions(t, db, u.ID, 10, now.Add(time.Hour))
		var chunks []jobs.CleanupChunk
		left := 100
		res, err := runCleanup(ctx, db, now, cleanupOptions{
			Trigger: "cli", BatchSize: 7, Target: time.Hour, // a fixed size: no adapting
			OnChunk: func(c jobs.CleanupChunk) {
				chunks = append(chunks, c)
				// Another connection already sees the chunk gone: it was
				// committed by itself, before the next one began.
				n, err := models.CountExpired(ctx, db, now)
				if err != nil {
					t.Error(err)
				}
				left -= c.Rows
				if n != left {
					t.Errorf("after chunk %d another connection sees %d expired, want %d", len(chunks), n, left)
				}
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.Deleted != 100 || res.Chunks != 15 || len(chunks) != 15 {
			t.Fatalf("deleted %d in %d chunks (%d reported), want 100 in 15", res.Deleted, res.Chunks, len(chunks))
		}
		var rested time.Duration
		for i, c := range chunks {
			rested += c.Rest
			want := 7
			if i == 14 {
				want = 2
			}
			if c.Rows != want || c.Size != 7 || c.Table != "sessions" {
				t.Errorf("chunk %d = %+v, want %d rows of limit 7", i, c, want)
			}
			// A rest of eight times the chunk (1 ms to 1 s) after each chunk
			// but the last, which ends the run.
			if rest := min(max(8*c.Took, time.Millisecond), time.Second); i < 14 && c.Rest != rest || i == 14 && c.Rest != 0 {
				t.Errorf("chunk %d took %v, then rested %v", i, c.Took, c.Rest)
			}
		}
		if res.Took < rested {
			t.Errorf("the run took %v, less than the %v of rests it reported: it did not pause", res.Took, rested)
		}
		if n := countSessions(t, db); n != 10 {
			t.Fatalf("%d left, want the 10 live", n)
		}
	})
}

func TestCleanup_CancelledMidRun_LeavesConsistentDataAndTheNextRunFinishes(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		now := fixedNow()
		u := testdb.CreateUser(t, db, "cancel@example.com", models.RoleUser)
		testdb.SeedSessions(t, db, u.ID, 100, now.Add(-time.Hour))
		testdb.SeedSessions(t, db, u.ID, 10, now.Add(time.Hour))
		ctx, cancel := context.WithCancel(context.Background())
		chunks := 0
		res, err := runCleanup(ctx, db, now, cleanupOptions{
			Trigger: "schedule", BatchSize: 10, Target: time.Hour,
			OnChunk: func(jobs.CleanupChunk) {
				if chunks++; chunks == 3 {
					cancel()
				}
			},
		})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if res.Deleted != 30 {
			t.Fatalf("deleted %d before stopping, want 30 (3 whole chunks)", res.Deleted)
		}
		if n := countSessions(t, db); n != 80 {
			t.Fatalf("%d rows left, want 80", n)
		}
		runs, _ := models.ListCleanupRuns(context.Background(), db, 10)
		if len(runs) != 1 || runs[0].Error != models.CleanupCancelled || runs[0].Deleted != 30 || runs[0].FinishedAt == nil {
			t.Fatalf("run = %+v, want recorded as cancelled after 30", runs)
		}
		res, err = runCleanup(context.Background(), db, now, cleanupOptions{Trigger: "schedule", BatchSize: 10})
		if err != nil || res.Deleted != 70 {
			t.Fatalf("next run: %+v, %v; want 70", res, err)
		}
		if n := countSessions(t, db); n != 10 {
			t.Fatalf("%d rows left, want the 10 live", n)
		}
	})
}

func TestCleanup_PrunesAuditEventsOlderThanRetention_InChunks(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		now := fixedNow()
		for i := range 25 {
			at := now.Add(-100 * 24 * time.Hour)
			if i >= 20 {
				at = now.Add(-time.Hour)
			}
			if err := models.RecordEvent(ctx, db, &models.Event{At: at, Kind: models.EventSignInFailed, Detail: fmt.Sprint(i)}); err != nil {
				t.Fatal(err)
			}
		}
		var tables []string
		res, err := runCleanup(ctx, db, now, cleanupOptions{
			Trigger: "schedule", BatchSize: 6, Retention: 90 * 24 * time.Hour,
			OnChunk: func(c jobs.CleanupChunk) { tables = append(tables, c.Table) },
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.EventsPruned != 20 || len(tables) != 4 {
			t.Fatalf("pruned %d in %d chunks, want 20 in 4", res.EventsPruned, len(tables))
		}
		var kinds []string
		if err := db.NewSelect().Table("session_events").Column("kind").Scan(ctx, &kinds); err != nil {
			t.Fatal(err)
		}
		if len(kinds) != 6 { // 5 recent + the run's own summary
			t.Fatalf("events left: %v", kinds)
		}
	})
}

func TestCleanup_TwoInstancesAtOnceOnPostgres_OneWorksTheOtherSkips(t *testing.T) {
	url := testdb.PostgresURL(t)
	a, b := testdb.Open(t, url), testdb.Open(t, url)
	now := fixedNow()
	u := testdb.CreateUser(t, a, "twice@example.com", models.RoleUser)
	testdb.SeedSessions(t, a, u.ID, 100, now.Add(-time.Hour))

	holding, otherDone := make(chan struct{}), make(chan struct{})
	var once sync.Once
	var resA, resB models.CleanupResult
	var errA, errB error
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		resA, errA = runCleanup(context.Background(), a, now, cleanupOptions{
			Trigger: "schedule", BatchSize: 10,
			OnChunk: func(jobs.CleanupChunk) {
				once.Do(func() { close(holding); <-otherDone })
			},
		})
	}()
	go func() {
		defer wg.Done()
		defer close(otherDone)
		<-holding
		resB, errB = runCleanup(context.Background(), b, now, cleanupOptions{Trigger: "schedule", BatchSize: 10})
	}()
	wg.Wait()
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	if resA.Skipped || !resB.Skipped {
		t.Fatalf("a skipped=%v b skipped=%v; want only b to skip", resA.Skipped, resB.Skipped)
	}
	if resA.Deleted+resB.Deleted != 100 || countSessions(t, a) != 0 {
		t.Fatalf("deleted %d+%d, want 100 in all", resA.Deleted, resB.Deleted)
	}
	// The lock was released on its connection: the next run takes it.
	res, err := runCleanup(context.Background(), b, now, cleanupOptions{Trigger: "schedule"})
	if err != nil || res.Skipped {
		t.Fatalf("after release: %+v, %v", res, err)
	}
	if runs, _ := models.ListCleanupRuns(context.Background(), a, 10); len(runs) != 2 {
		t.Fatalf("want 2 recorded runs (the skip records none), got %d", len(runs))
	}
}

func TestCleanup_ChunksShrinkWhenSlowerThanTheTarget(t *testing.T) {
	db := testdb.SQLite(t)
	now := fixedNow()
	u := testdb.CreateUser(t, db, "adapt@example.com", models.RoleUser)
	testdb.SeedSessions(t, db, u.ID, 400, now.Add(-time.Hour))
	var sizes []int
	_, err := runCleanup(context.Background(), db, now, cleanupOptions{
		Trigger: "cli", BatchSize: 200, Target: time.Nanosecond,
		OnChunk: func(c jobs.CleanupChunk) { sizes = append(sizes, c.Size) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(sizes) < 3 || sizes[0] != 200 || sizes[1] != 50 || sizes[len(sizes)-1] != 50 {
		t.Fatalf("chunk sizes %v: want 200, then a quarter, never under the floor of 50", sizes)
	}
}

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
		if _, err := runCleanup(ctx, db, now, cleanupOptions{Trigger: models.TriggerSchedule}); err != nil {
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
