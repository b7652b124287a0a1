package models_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"sessiond/models"
	"sessiond/models/testdb"
)

// seedSessions inserts n sessions for user expiring at exp (bulk, no
// events), returning nothing; tokens are unusable random hashes.
func seedSessions(t testing.TB, db *models.DB, userID int64, n int, exp time.Time) {
	t.Helper()
	ctx := context.Background()
	for done := 0; done < n; {
		k := min(n-done, 500)
		rows := make([]models.Session, k)
		for i := range rows {
			tok, _ := models.NewToken()
			rows[i] = models.Session{TokenHash: models.HashToken(tok), UserID: userID, ExpiresAt: exp.UTC(),
				CreatedAt: exp.Add(-time.Hour).UTC(), LastSeenAt: exp.Add(-time.Hour).UTC()}
		}
		if _, err := db.NewInsert().Model(&rows).Exec(ctx); err != nil {
			t.Fatalf("seed sessions: %v", err)
		}
		done += k
	}
}

func fixedNow() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

func TestCleanup_DeletesOnlyExpiredAtOrBeforeNow_LiveSessionsOfEveryUserStay(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		now := fixedNow()
		for i := range 3 {
			u := testdb.CreateUser(t, db, testdb.Name("boundary", i), models.RoleUser)
			seedSessions(t, db, u.ID, 2, now.Add(-time.Hour))       // expired
			seedSessions(t, db, u.ID, 1, now)                       // expiring exactly now: expired
			seedSessions(t, db, u.ID, 1, now.Add(time.Microsecond)) // just alive
			seedSessions(t, db, u.ID, 3, now.Add(time.Hour))        // alive
		}
		st, err := models.GetCleanupStats(ctx, db, now)
		if err != nil {
			t.Fatal(err)
		}
		if want := (models.CleanupStats{Total: 21, Active: 12, Expired: 9, ExpiringSoon: 12}); st != want {
			t.Fatalf("stats before = %+v, want %+v", st, want)
		}
		res, err := models.Cleanup(ctx, db, now, models.CleanupOptions{Trigger: models.TriggerCLI})
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
		seedSessions(t, db, u.ID, 37, now.Add(-time.Minute))
		seedSessions(t, db, u.ID, 5, now)
		seedSessions(t, db, u.ID, 11, now.Add(time.Minute))
		dry, err := models.Cleanup(ctx, db, now, models.CleanupOptions{DryRun: true, BatchSize: 7})
		if err != nil {
			t.Fatal(err)
		}
		if n := countSessions(t, db); n != 53 {
			t.Fatalf("dry run changed the table: %d rows", n)
		}
		if runs, _ := models.ListCleanupRuns(ctx, db, 10); len(runs) != 0 {
			t.Fatalf("dry run recorded a run: %+v", runs)
		}
		real, err := models.Cleanup(ctx, db, now, models.CleanupOptions{Trigger: "cli", BatchSize: 7})
		if err != nil {
			t.Fatal(err)
		}
		if dry.Deleted != 42 || real.Deleted != dry.Deleted {
			t.Fatalf("dry run said %d, real run deleted %d (want 42)", dry.Deleted, real.Deleted)
		}
	})
}

func TestCleanup_ChunkOf7_100Expired_15Chunks_EachCommittedOnItsOwn(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		now := fixedNow()
		u := testdb.CreateUser(t, db, "chunks@example.com", models.RoleUser)
		seedSessions(t, db, u.ID, 100, now.Add(-time.Hour))
		seedSessions(t, db, u.ID, 10, now.Add(time.Hour))
		var chunks []models.CleanupChunk
		left := 100
		res, err := models.Cleanup(ctx, db, now, models.CleanupOptions{
			Trigger: "cli", BatchSize: 7, Target: time.Hour, // a fixed size: no adapting
			OnChunk: func(c models.CleanupChunk) {
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
		seedSessions(t, db, u.ID, 100, now.Add(-time.Hour))
		seedSessions(t, db, u.ID, 10, now.Add(time.Hour))
		ctx, cancel := context.WithCancel(context.Background())
		chunks := 0
		res, err := models.Cleanup(ctx, db, now, models.CleanupOptions{
			Trigger: "schedule", BatchSize: 10, Target: time.Hour,
			OnChunk: func(models.CleanupChunk) {
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
		res, err = models.Cleanup(context.Background(), db, now, models.CleanupOptions{Trigger: "schedule", BatchSize: 10})
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
		res, err := models.Cleanup(ctx, db, now, models.CleanupOptions{
			Trigger: "schedule", BatchSize: 6, Retention: 90 * 24 * time.Hour,
			OnChunk: func(c models.CleanupChunk) { tables = append(tables, c.Table) },
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
	open := func() *models.DB {
		db, err := models.Open(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if _, err := models.Migrate(context.Background(), db); err != nil {
			t.Fatal(err)
		}
		return db
	}
	a, b := open(), open()
	now := fixedNow()
	u := testdb.CreateUser(t, a, "twice@example.com", models.RoleUser)
	seedSessions(t, a, u.ID, 100, now.Add(-time.Hour))

	holding, otherDone := make(chan struct{}), make(chan struct{})
	var once sync.Once
	var resA, resB models.CleanupResult
	var errA, errB error
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		resA, errA = models.Cleanup(context.Background(), a, now, models.CleanupOptions{
			Trigger: "schedule", BatchSize: 10,
			OnChunk: func(models.CleanupChunk) {
				once.Do(func() { close(holding); <-otherDone })
			},
		})
	}()
	go func() {
		defer wg.Done()
		defer close(otherDone)
		<-holding
		resB, errB = models.Cleanup(context.Background(), b, now, models.CleanupOptions{Trigger: "schedule", BatchSize: 10})
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
	res, err := models.Cleanup(context.Background(), b, now, models.CleanupOptions{Trigger: "schedule"})
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
	seedSessions(t, db, u.ID, 400, now.Add(-time.Hour))
	var sizes []int
	_, err := models.Cleanup(context.Background(), db, now, models.CleanupOptions{
		Trigger: "cli", BatchSize: 200, Target: time.Nanosecond,
		OnChunk: func(c models.CleanupChunk) { sizes = append(sizes, c.Size) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(sizes) < 3 || sizes[0] != 200 || sizes[1] != 50 || sizes[len(sizes)-1] != 50 {
		t.Fatalf("chunk sizes %v: want 200, then a quarter, never under the floor of 50", sizes)
	}
}
