package models_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"sessiond/jobs"
	"sessiond/models"
	"sessiond/models/testdb"
)

func TestCountSignInAttempt_ConcurrentAttemptsEachSeeADistinctCount_WindowRestarts_Uncount(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		now := fixedNow()
		const n = 60
		acct := models.ThrottleKey{Scope: models.ScopeAccount, Subject: "victim@example.com", Limit: n + 1}
		ip := models.ThrottleKey{Scope: models.ScopeIP, Subject: "203.0.113.9", Limit: 1000}
		seen := make([]bool, n+1)
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got, err := models.CountSignInAttempt(ctx, db, []models.ThrottleKey{acct, ip}, now)
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) != 2 {
					t.Errorf("counts %+v", got)
					return
				}
				for _, c := range got {
					if c.Scope == models.ScopeAccount {
						mu.Lock()
						if c.N < 1 || c.N > n || seen[c.N] {
							t.Errorf("count %d twice or out of range", c.N)
						} else {
							seen[c.N] = true
						}
						mu.Unlock()
					}
					if !c.WindowStart.Equal(now) {
						t.Errorf("window %v, want %v", c.WindowStart, now)
					}
				}
			}()
		}
		wg.Wait()
		if c, err := models.GetLoginCount(ctx, db, ip); err != nil || c.N != n {
			t.Fatalf("ip count %+v %v, want %d", c, err, n)
		}

		// Taking an attempt back lowers the count in its window only.
		got, err := models.CountSignInAttempt(ctx, db, []models.ThrottleKey{acct}, now.Add(time.Minute))
		if err != nil || len(got) != 1 || got[0].N != n+1 {
			t.Fatalf("one more: %+v %v", got, err)
		}
		// At its limit a key is not counted, and not returned; the other is.
		refused, err := models.CountSignInAttempt(ctx, db, []models.ThrottleKey{acct, ip}, now.Add(time.Minute))
		if err != nil || len(refused) != 1 || refused[0].Scope != models.ScopeIP || refused[0].N != n+1 {
			t.Fatalf("at the limit: %+v %v", refused, err)
		}
		if c, _ := models.GetLoginCount(ctx, db, acct); c.N != n+1 {
			t.Fatalf("a refused attempt changed the count: %d", c.N)
		}
		if err := models.UncountSignInAttempt(ctx, db, refused); err != nil {
			t.Fatal(err)
		}
		if err := models.UncountSignInAttempt(ctx, db, got); err != nil {
			t.Fatal(err)
		}
		if c, _ := models.GetLoginCount(ctx, db, acct); c.N != n {
			t.Fatalf("after uncount: %d, want %d", c.N, n)
		}
		stale := []models.LoginCount{{Scope: acct.Scope, Subject: acct.Subject, WindowStart: now.Add(-time.Hour), N: 1}}
		if err := models.UncountSignInAttempt(ctx, db, stale); err != nil {
			t.Fatal(err)
		}
		if c, _ := models.GetLoginCount(ctx, db, acct); c.N != n {
			t.Fatalf("an uncount for another window changed the count: %d", c.N)
		}

		// After the window the count starts again at 1.
		later := now.Add(models.LoginWindow)
		got, err = models.CountSignInAttempt(ctx, db, []models.ThrottleKey{acct, ip}, later)
		if err != nil || len(got) != 2 || got[0].N != 1 || got[1].N != 1 || !got[0].WindowStart.Equal(later) {
			t.Fatalf("new window: %+v %v", got, err)
		}
		if err := models.ClearLoginFailures(ctx, db, acct); err != nil {
			t.Fatal(err)
		}
		if c, _ := models.GetLoginCount(ctx, db, acct); c.N != 0 {
			t.Fatalf("cleared account still counts %d", c.N)
		}
		if c, _ := models.GetLoginCount(ctx, db, ip); c.N != 1 {
			t.Fatalf("clearing the account touched the ip count: %d", c.N)
		}
	})
}

func TestCleanup_PrunesEndedThrottleWindowsOnly(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		now := fixedNow()
		old := models.ThrottleKey{Scope: models.ScopeAccount, Subject: "old@example.com", Limit: 10}
		live := models.ThrottleKey{Scope: models.ScopeIP, Subject: "198.51.100.1", Limit: 10}
		if _, err := models.CountSignInAttempt(ctx, db, []models.ThrottleKey{old}, now.Add(-models.LoginWindow-time.Minute)); err != nil {
			t.Fatal(err)
		}
		if _, err := models.CountSignInAttempt(ctx, db, []models.ThrottleKey{live}, now.Add(-time.Minute)); err != nil {
			t.Fatal(err)
		}
		res, err := (&jobs.Cleanup{DB: db, Now: func() time.Time { return now }, BatchSize: 10000}).Run(ctx, models.TriggerCLI, models.Audit{})
		if err != nil || res.CountsPruned != 1 {
			t.Fatalf("cleanup: %+v %v, want one count pruned", res, err)
		}
		for key, want := range map[models.ThrottleKey]int{old: 0, live: 1} {
			if c, err := models.GetLoginCount(ctx, db, key); err != nil || c.N != want {
				t.Fatalf("%v: %d %v, want %d", key, c.N, err, want)
			}
		}
	})
}
