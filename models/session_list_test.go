package models_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"sessiond/models"
	"sessiond/models/testdb"
)

func TestListSessions_KeysetPagesWalkEveryRowOnce_BothWays_AndMatchOffsetPages(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		clock := testdb.NewClock()
		m := newManager(t, db, testPolicy, clock)
		users := insertUsers(t, db, "list", 3)
		var want []int64
		for i := range 23 {
			_, s := createSession(t, m, users[i%3].ID, clock.Now().Add(time.Hour))
			want = append([]int64{s.ID}, want...) // newest first
			if i%4 != 0 {                         // some share a created_at: id breaks the tie
				clock.Advance(time.Second)
			}
		}
		f := models.SessionFilter{Limit: 5}
		var got []int64
		var pages []*models.SessionList
		for {
			l, err := models.ListSessions(ctx, db, f, clock.Now())
			if err != nil {
				t.Fatal(err)
			}
			if l.Total != 23 {
				t.Fatalf("total %d, want 23", l.Total)
			}
			got = append(got, sessionIDs(l.Sessions)...)
			pages = append(pages, l)
			if l.Next == nil {
				break
			}
			f.Cursor = l.Next
		}
		if len(got) != len(want) {
			t.Fatalf("walked %v, want %v", got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("walked %v, want %v", got, want)
			}
		}
		if pages[0].Prev != nil || len(pages) != 5 {
			t.Fatalf("first page has prev or %d pages", len(pages))
		}
		// Back from the last page gives page 4 again, and offset page 4 agrees.
		c, err := models.DecodeSessionCursor(pages[4].Prev.Encode())
		if err != nil {
			t.Fatal(err)
		}
		back, err := models.ListSessions(ctx, db, models.SessionFilter{Limit: 5, Cursor: &c}, clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		off, err := models.ListSessions(ctx, db, models.SessionFilter{Limit: 5, Page: 4}, clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		for i, id := range want[15:20] {
			if back.Sessions[i].ID != id || off.Sessions[i].ID != id {
				t.Fatalf("page 4: back %v offset %v want %v", sessionIDs(back.Sessions), sessionIDs(off.Sessions), want[15:20])
			}
		}
		if back.Prev == nil || back.Next == nil {
			t.Fatal("page 4 should have prev and next")
		}
		if back.Sessions[0].User == nil || back.Sessions[0].User.Email == "" {
			t.Fatal("user not loaded")
		}
	})
}

func TestListSessions_Filters_StatusUserAndLiteralQuery(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		clock := testdb.NewClock()
		m := newManager(t, db, testPolicy, clock)
		a := testdb.CreateUser(t, db, "per%cent_x@example.com", models.RoleUser)
		b := testdb.CreateUser(t, db, "percentx@example.com", models.RoleUser)
		createSession(t, m, a.ID, clock.Now().Add(time.Hour))
		createSession(t, m, a.ID, clock.Now().Add(-time.Hour))
		createSession(t, m, b.ID, clock.Now().Add(time.Hour))
		for _, tc := range []struct {
			name string
			f    models.SessionFilter
			want int
		}{
			{"all", models.SessionFilter{}, 3},
			{"active", models.SessionFilter{Status: models.StatusActive}, 2},
			{"expired", models.SessionFilter{Status: models.StatusExpired}, 1},
			{"user", models.SessionFilter{UserID: b.ID}, 1},
			{"percent literal", models.SessionFilter{Q: "per%cent"}, 2},
			{"underscore literal", models.SessionFilter{Q: "t_x"}, 2},
			{"wildcards do not match", models.SessionFilter{Q: "r_e"}, 0},
			{"quote", models.SessionFilter{Q: "o'brien"}, 0},
			{"case-insensitive", models.SessionFilter{Q: "PERCENTX"}, 1},
		} {
			tc.f.Limit = 20
			l, err := models.ListSessions(ctx, db, tc.f, clock.Now())
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if len(l.Sessions) != tc.want || l.Total != tc.want {
				t.Errorf("%s: %d rows, total %d, want %d", tc.name, len(l.Sessions), l.Total, tc.want)
			}
		}
	})
}

func TestSessionCursor_RejectsForgeries(t *testing.T) {
	for _, s := range []string{"", "abc", "!!!", "eC4xLjE", "bi4xLjA"} {
		if _, err := models.DecodeSessionCursor(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

func TestSessionStats_CountsAndLastCleanup(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		clock := testdb.NewClock()
		m := newManager(t, db, testPolicy, clock)
		users := insertUsers(t, db, "stats", 3)
		now := clock.Now()
		createSession(t, m, users[0].ID, now.Add(2*time.Hour))
		createSession(t, m, users[0].ID, now.Add(48*time.Hour))
		createSession(t, m, users[1].ID, now.Add(-time.Minute))
		st, err := models.GetSessionStats(ctx, db, now)
		if err != nil {
			t.Fatal(err)
		}
		if st.Active != 2 || st.Expired != 1 || st.ExpiringWithin24h != 1 || st.UsersWithSessions != 1 || st.LastCleanup != nil {
			t.Fatalf("stats %+v last=%v", st, st.LastCleanup)
		}
		fin := now.Add(time.Second)
		for i, started := range []time.Time{now.Add(-time.Hour), now} {
			_, err := db.NewRaw("INSERT INTO cleanup_runs (trigger, started_at, finished_at, deleted, error) VALUES (?, ?, ?, ?, '')",
				"admin", db.T(started), db.T(fin), 7+i).Exec(ctx)
			if err != nil {
				t.Fatal(err)
			}
		}
		st, err = models.GetSessionStats(ctx, db, now)
		if err != nil {
			t.Fatal(err)
		}
		lc := st.LastCleanup
		if lc == nil || lc.Deleted != 8 || lc.Trigger != "admin" || !lc.StartedAt.Equal(now) || lc.FinishedAt == nil || !lc.FinishedAt.Equal(fin) {
			t.Fatalf("last cleanup %+v", lc)
		}
	})
}

func TestSeed_InsertsUsersAndSessions_WithTheExpiredRatio(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		now := time.Now()
		res, err := models.Seed(ctx, db, models.SeedOptions{Users: 7, Sessions: 1200, ExpiredRatio: 0.25, Now: now, PasswordHash: "x", Seed: 42}, nil)
		if err != nil {
			t.Fatal(err)
		}
		st, err := models.GetSessionStats(ctx, db, now)
		if err != nil {
			t.Fatal(err)
		}
		if res.Users != 7 || res.Sessions != 1200 || st.Active+st.Expired != 1200 || st.Expired != res.Expired {
			t.Fatalf("res %+v stats %+v", res, st)
		}
		if res.Expired < 200 || res.Expired > 400 {
			t.Fatalf("expired %d of 1200 at ratio 0.25", res.Expired)
		}
		// Every row reads back whole through the model: a seeded user, a
		// parsable time, an agent and an address (SQLite inserts them from JSON).
		var got []models.Session
		if err := db.NewSelect().Model(&got).Relation("User").Order("s.id").Limit(5).Scan(ctx); err != nil {
			t.Fatal(err)
		}
		for _, s := range got {
			if s.User == nil || s.User.ID != s.UserID || len(s.TokenHash) != 64 || s.IP == "" || s.UserAgent == "" ||
				s.CreatedAt.IsZero() || s.CreatedAt.After(now) || !s.LastSeenAt.Before(s.ExpiresAt) {
				t.Fatalf("seeded session %+v", s)
			}
		}
		// A second run adds more without colliding.
		if _, err := models.Seed(ctx, db, models.SeedOptions{Users: 2, Sessions: 3, Now: now, PasswordHash: "x"}, nil); err != nil {
			t.Fatal(err)
		}
	})
}

// The whole-table counts must not fan out to parallel workers on
// PostgreSQL: on a two-core machine they starved the session lookups
// beside them (lookup p99 3.8 ms → 13–71 ms while the cleanup CLI
// printed its counts). Parallel plans are made cheap here, so a
// connection whose DATABASE_URL asks for workers does get one — the test
// can tell, and the URL's choice is kept — and sessiond's own must not.
func TestPostgres_CountsPlanNoParallelWorkers(t *testing.T) {
	url := testdb.PostgresURL(t)
	ctx := context.Background()
	plan := func(db *models.DB) string {
		t.Helper()
		var lines []string
		err := db.Read.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			for _, set := range []string{"parallel_setup_cost = 0", "parallel_tuple_cost = 0",
				"min_parallel_table_scan_size = 0", "min_parallel_index_scan_size = 0"} {
				if _, err := tx.ExecContext(ctx, "SET LOCAL "+set); err != nil {
					return err
				}
			}
			return tx.NewRaw("EXPLAIN SELECT count(*) FROM sessions WHERE expires_at > ?", time.Now()).Scan(ctx, &lines)
		})
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(lines, "\n")
	}
	if p := plan(testdb.Open(t, url+"&max_parallel_workers_per_gather=2")); !strings.Contains(p, "Gather") {
		t.Fatalf("with workers allowed the count should get a parallel plan here, or the test proves nothing:\n%s", p)
	}
	if p := plan(testdb.Open(t, url)); strings.Contains(p, "Gather") {
		t.Fatalf("a sessiond connection planned parallel workers:\n%s", p)
	}
}
