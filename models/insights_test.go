package models_test

import (
	"context"
	"testing"
	"time"

	"sessiond/models"
	"sessiond/models/testdb"
)

// The top users are ranked by live sessions only, most first, ties by user
// id, cut at the limit — and carry their own email and name.
func TestReadInsights_TopUsers_RankedByLiveSessions(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		clock := testdb.NewClock()
		m := newManager(t, db, models.DefaultPolicy, clock)
		users := insertUsers(t, db, "top", 5)
		live := clock.Now().Add(time.Hour)
		// users[0]: 1 live; users[1]: 3 live; users[2]: 2 live; users[3]: 2 live;
		// users[4]: 4 sessions, all expired.
		for i, n := range []int{1, 3, 2, 2} {
			for range n {
				createSession(t, m, users[i].ID, live)
			}
		}
		for range 4 {
			createSession(t, m, users[4].ID, clock.Now().Add(time.Minute))
		}
		clock.Advance(2 * time.Minute)

		ins, err := models.ReadInsights(context.Background(), db, clock.Now(), 30, 3)
		if err != nil {
			t.Fatal(err)
		}
		want := []struct {
			u *models.User
			n int64
		}{{users[1], 3}, {users[2], 2}, {users[3], 2}}
		if len(ins.TopUsers) != len(want) {
			t.Fatalf("top users = %+v, want %d", ins.TopUsers, len(want))
		}
		for i, w := range want {
			got := ins.TopUsers[i]
			if got.UserID != w.u.ID || got.Sessions != w.n || got.Email != w.u.Email || got.Name != w.u.Name {
				t.Errorf("top user %d = %+v, want %s with %d", i, got, w.u.Email, w.n)
			}
		}
	})
}
