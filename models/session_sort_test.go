package models_test

import (
	"context"
	"slices"
	"sort"
	"testing"
	"time"

	"sessiond/models"
	"sessiond/models/testdb"
)

// Every sort gives the order computed here from the rows' own times (ties
// broken on id in the sort's direction), by keyset both ways and by offset,
// with and without a user filter.
func TestListSessions_EverySort_KeysetAndOffsetAgree(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		clock := testdb.NewClock()
		m := newManager(t, db, testPolicy, clock)
		users := insertUsers(t, db, "sort", 2)
		base := clock.Now()
		for i := range 17 {
			_, s := createSession(t, m, users[i%2].ID, base.Add(time.Duration((i*5)%7-2)*time.Hour))
			seen := base.Add(time.Duration((i*7)%5) * time.Minute) // ties on purpose
			if _, err := db.NewUpdate().Model((*models.Session)(nil)).Set("last_seen_at = ?", db.T(seen)).Where("id = ?", s.ID).Exec(ctx); err != nil {
				t.Fatal(err)
			}
			if i%3 != 0 {
				clock.Advance(time.Second)
			}
		}
		all, err := models.ListSessions(ctx, db, models.SessionFilter{Limit: 100}, clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		for _, order := range []models.SessionSort{"created", "-created", "last_seen", "-last_seen", "expires", "-expires"} {
			for _, uid := range []int64{0, users[1].ID} {
				want := expectedOrder(all.Sessions, order, uid)
				f := models.SessionFilter{Limit: 4, Sort: order, UserID: uid}
				var walked, offset []int64
				var last *models.SessionList
				for page := 1; ; page++ {
					l, err := models.ListSessions(ctx, db, f, clock.Now())
					if err != nil {
						t.Fatalf("%s: %v", order, err)
					}
					walked = append(walked, sessionIDs(l.Sessions)...)
					o, err := models.ListSessions(ctx, db, models.SessionFilter{Limit: 4, Sort: order, UserID: uid, Page: page}, clock.Now())
					if err != nil {
						t.Fatal(err)
					}
					offset = append(offset, sessionIDs(o.Sessions)...)
					last = l
					if l.Next == nil {
						break
					}
					// The cursor survives its URL form and knows its order.
					c, err := models.DecodeSessionCursor(l.Next.Encode())
					if err != nil || c.Sort != order {
						t.Fatalf("%s: cursor %+v %v", order, c, err)
					}
					f.Cursor = &c
				}
				if !slices.Equal(walked, want) || !slices.Equal(offset, want) {
					t.Fatalf("%s user %d: keyset %v offset %v want %v", order, uid, walked, offset, want)
				}
				// One step back from the last page is the page before it.
				if last.Prev != nil && len(want) > 4 {
					back, err := models.ListSessions(ctx, db, models.SessionFilter{Limit: 4, Sort: order, UserID: uid, Cursor: last.Prev}, clock.Now())
					if err != nil {
						t.Fatal(err)
					}
					n := len(want) - len(last.Sessions)
					if got := sessionIDs(back.Sessions); !slices.Equal(got, want[n-4:n]) {
						t.Fatalf("%s back: %v want %v", order, got, want[n-4:n])
					}
				}
			}
		}
		// A cursor of one order is refused in another; an unknown order is refused.
		first, _ := models.ListSessions(ctx, db, models.SessionFilter{Limit: 4, Sort: "expires"}, clock.Now())
		if _, err := models.ListSessions(ctx, db, models.SessionFilter{Limit: 4, Sort: "-created", Cursor: first.Next}, clock.Now()); err == nil {
			t.Fatal("cursor of another order accepted")
		}
		if _, err := models.ListSessions(ctx, db, models.SessionFilter{Limit: 4, Sort: "id; DROP TABLE sessions"}, clock.Now()); err == nil {
			t.Fatal("unknown sort accepted")
		}
	})
}

func expectedOrder(rows []models.Session, order models.SessionSort, uid int64) []int64 {
	var out []models.Session
	for _, s := range rows {
		if uid == 0 || s.UserID == uid {
			out = append(out, s)
		}
	}
	key := func(s models.Session) time.Time {
		switch order.Key() {
		case "last_seen":
			return s.LastSeenAt
		case "expires":
			return s.ExpiresAt
		}
		return s.CreatedAt
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		less := key(a).Before(key(b)) || (key(a).Equal(key(b)) && a.ID < b.ID)
		if order.Desc() {
			return key(b).Before(key(a)) || (key(a).Equal(key(b)) && a.ID > b.ID)
		}
		return less
	})
	return sessionIDs(out)
}
