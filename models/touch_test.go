package models_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"sessiond/models"
	"sessiond/models/testdb"
)

// TestValidate_ConcurrentTouches_EachLandsAndAGoneSessionIsRefused: many
// requests due a touch at once (written in groups) each get their own
// outcome: every live session's row records its request, and a session
// deleted meanwhile is refused without failing the others.
func TestValidate_ConcurrentTouches_EachLandsAndAGoneSessionIsRefused(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		clock := testdb.NewClock()
		m := newManager(t, db, models.Policy{MaxAge: time.Hour, UpdateAge: time.Hour, TouchInterval: 5 * time.Minute}, clock)
		u := testdb.CreateUser(t, db, "touches@example.com", models.RoleUser)
		var sessions []*models.Session
		for range 24 {
			_, s := signIn(t, m, u.ID)
			sessions = append(sessions, s)
		}
		gone := sessions[7]
		if _, err := db.NewDelete().Model((*models.Session)(nil)).Where("id = ?", gone.ID).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		clock.Advance(6 * time.Minute)
		errs := make([]error, len(sessions))
		var wg sync.WaitGroup
		for i, s := range sessions {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = m.Validate(ctx, s, func() models.Client { return models.Client{IP: "192.0.2.9", UserAgent: "touch test"} })
			}()
		}
		wg.Wait()
		for i, s := range sessions {
			if s == gone {
				if !errors.Is(errs[i], models.ErrNotFound) {
					t.Errorf("the deleted session: %v, want not found", errs[i])
				}
				continue
			}
			if errs[i] != nil {
				t.Fatalf("session %d: %v", s.ID, errs[i])
			}
			row, _ := sessionRow(t, db, s.ID)
			if !row.LastSeenAt.Equal(clock.Now()) || row.IP != "192.0.2.9" || row.UserAgent != "touch test" {
				t.Errorf("session %d: seen %v ip %q ua %q; want the request's", s.ID, row.LastSeenAt, row.IP, row.UserAgent)
			}
		}
		if n := m.TouchWrites.Load(); n != int64(len(sessions)-1) {
			t.Fatalf("%d touch writes, want %d", n, len(sessions)-1)
		}
	})
}
