package models_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"sessiond/models"
	"sessiond/models/testdb"
)

// TestValidate_ConcurrentTouches_EachLandsAndAGoneSessionIsRefused: many
// requests due a touch at once each get their own outcome: every live session's row records its request, and a session
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

// TestAuthenticate_TouchWrittenBehind: while a server writes touches
// behind, a cached session due a touch is answered from the cache at once
// (no read, no write on the request) and its touch lands with the next
// write, or at Close, with the request's address and agent.
func TestAuthenticate_TouchWrittenBehind(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		clock := testdb.NewClock()
		m, c := cachedManager(t, db, models.Policy{MaxAge: time.Hour, UpdateAge: time.Hour, TouchInterval: 5 * time.Minute}, clock)
		behind := m.WriteTouchesBehind(time.Hour) // only Close writes, so the test sees before and after
		u := testdb.CreateUser(t, db, "behind@example.com", models.RoleUser)
		tok, s := signIn(t, m, u.ID)
		warm(t, m, c, tok)
		lookups := m.Lookups.Load()
		clock.Advance(6 * time.Minute)
		who := func() models.Client { return models.Client{IP: "198.51.100.7", UserAgent: "behind test"} }
		v, err := m.Authenticate(ctx, tok, who)
		if err != nil {
			t.Fatal(err)
		}
		if !v.Session.LastSeenAt.Equal(clock.Now()) {
			t.Fatalf("answered last seen %v, want now %v", v.Session.LastSeenAt, clock.Now())
		}
		if m.Lookups.Load() != lookups || m.TouchWrites.Load() != 0 {
			t.Fatalf("the request read (%d lookups) or wrote (%d touches): both belong behind it", m.Lookups.Load()-lookups, m.TouchWrites.Load())
		}
		if _, err := m.Authenticate(ctx, tok, who); err != nil { // marked seen: a plain hit, nothing queued again
			t.Fatal(err)
		}
		if row, _ := sessionRow(t, db, s.ID); row.LastSeenAt.Equal(clock.Now()) {
			t.Fatal("the touch was written on the request")
		}
		if err := behind.Close(); err != nil {
			t.Fatal(err)
		}
		row, _ := sessionRow(t, db, s.ID)
		if !row.LastSeenAt.Equal(clock.Now()) || row.IP != "198.51.100.7" || row.UserAgent != "behind test" {
			t.Fatalf("after Close: seen %v ip %q ua %q; want the request's", row.LastSeenAt, row.IP, row.UserAgent)
		}
		if n := m.TouchWrites.Load(); n != 1 {
			t.Fatalf("%d touch writes, want 1", n)
		}
	})
}

// TestValidate_TouchWrittenBehind: a session read from the database and
// due only a touch is not written on its request either while touches
// are written behind; Close writes it.
func TestValidate_TouchWrittenBehind(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		clock := testdb.NewClock()
		m, _ := cachedManager(t, db, models.Policy{MaxAge: time.Hour, UpdateAge: time.Hour, TouchInterval: 5 * time.Minute}, clock)
		behind := m.WriteTouchesBehind(time.Hour)
		u := testdb.CreateUser(t, db, "behind-db@example.com", models.RoleUser)
		_, s := signIn(t, m, u.ID)
		clock.Advance(6 * time.Minute)
		v, err := m.Validate(ctx, s, theClient)
		if err != nil || !v.Session.LastSeenAt.Equal(clock.Now()) {
			t.Fatalf("Validate = %+v, %v; want the session seen now", v.Session, err)
		}
		if row, _ := sessionRow(t, db, s.ID); row.LastSeenAt.Equal(clock.Now()) || m.TouchWrites.Load() != 0 {
			t.Fatal("the touch was written on the request")
		}
		if err := behind.Close(); err != nil {
			t.Fatal(err)
		}
		if row, _ := sessionRow(t, db, s.ID); !row.LastSeenAt.Equal(clock.Now()) || m.TouchWrites.Load() != 1 {
			t.Fatalf("after Close: seen %v, %d touch writes; want now and 1", row.LastSeenAt, m.TouchWrites.Load())
		}
	})
}

// TestTouchesBehind_AFailedWriteKeepsThemForTheNext: when the database
// refuses the write, the touches wait and land with the next one.
func TestTouchesBehind_AFailedWriteKeepsThemForTheNext(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		clock := testdb.NewClock()
		m := newManager(t, db, models.Policy{MaxAge: time.Hour, UpdateAge: time.Hour, TouchInterval: 5 * time.Minute}, clock)
		behind := m.WriteTouchesBehind(time.Hour) // written only when the test says
		u := testdb.CreateUser(t, db, "behind-fails@example.com", models.RoleUser)
		_, s := signIn(t, m, u.ID)
		clock.Advance(6 * time.Minute)
		if _, err := m.Validate(ctx, s, theClient); err != nil {
			t.Fatal(err)
		}
		// A trigger that refuses every update of sessions stands for the
		// database refusing writes.
		refuse := []string{`CREATE TRIGGER touches_refused BEFORE UPDATE ON sessions BEGIN SELECT RAISE(ABORT, 'refused'); END`}
		allow := []string{`DROP TRIGGER touches_refused`}
		if db.Kind == models.Postgres {
			refuse = []string{`CREATE FUNCTION touches_refused() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused'; END; $$`,
				`CREATE TRIGGER touches_refused BEFORE UPDATE ON sessions FOR EACH ROW EXECUTE FUNCTION touches_refused()`}
			allow = []string{`DROP TRIGGER touches_refused ON sessions`, `DROP FUNCTION touches_refused()`}
		}
		exec := func(qs []string) {
			for _, q := range qs {
				if _, err := db.ExecContext(ctx, q); err != nil {
					t.Fatal(err)
				}
			}
		}
		exec(refuse)
		m.FlushTouches()
		if row, _ := sessionRow(t, db, s.ID); row.LastSeenAt.Equal(clock.Now()) || m.TouchWrites.Load() != 0 {
			t.Fatal("the refused write landed")
		}
		exec(allow)
		if err := behind.Close(); err != nil {
			t.Fatal(err)
		}
		if row, _ := sessionRow(t, db, s.ID); !row.LastSeenAt.Equal(clock.Now()) || m.TouchWrites.Load() != 1 {
			t.Fatalf("after the database took writes again: seen %v, %d touch writes; want now and 1", row.LastSeenAt, m.TouchWrites.Load())
		}
	})
}

// TestTouchesBehind_OneFlushOfManyChunks: one write behind of 2,500
// touches (three statements) records each session's own time, address and
// agent, quotes and all; a session deleted meanwhile and one that expired
// meanwhile are skipped without failing the rest, and are not kept for the
// next write.
func TestTouchesBehind_OneFlushOfManyChunks(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		clock := testdb.NewClock()
		m := newManager(t, db, models.Policy{MaxAge: 30 * 24 * time.Hour, UpdateAge: 30 * 24 * time.Hour, TouchInterval: 5 * time.Minute}, clock)
		behind := m.WriteTouchesBehind(time.Hour) // written only when the test says
		defer behind.Close()
		if _, err := models.Seed(ctx, db, models.SeedOptions{Users: 10, Sessions: 2500, Now: clock.Now(), PasswordHash: "x", Seed: 7}, nil); err != nil {
			t.Fatal(err)
		}
		var sessions []*models.Session
		if err := db.NewSelect().Model(&sessions).Order("id").Scan(ctx); err != nil || len(sessions) != 2500 {
			t.Fatalf("%d sessions, %v", len(sessions), err)
		}
		clock.Advance(6 * time.Minute)
		agent := func(s *models.Session) string { return fmt.Sprintf(`Agent "%d" ünï\code`, s.ID) }
		for _, s := range sessions {
			c := models.Client{IP: fmt.Sprintf("192.0.2.%d", s.ID%250), UserAgent: agent(s)}
			if _, err := m.Validate(ctx, s, func() models.Client { return c }); err != nil {
				t.Fatal(err)
			}
		}
		gone, expired := sessions[0], sessions[1500]
		if _, err := db.NewDelete().Model((*models.Session)(nil)).Where("id = ?", gone.ID).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := db.NewUpdate().Model((*models.Session)(nil)).Set("expires_at = ?", db.T(clock.Now().Add(-time.Second))).
			Where("id = ?", expired.ID).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		m.FlushTouches()
		if n := m.TouchWrites.Load(); n != 2498 {
			t.Fatalf("%d touch writes, want 2498", n)
		}
		for _, s := range sessions[1:] {
			row, _ := sessionRow(t, db, s.ID)
			if s == expired {
				if !row.LastSeenAt.Equal(s.LastSeenAt) {
					t.Errorf("the expired session was touched: seen %v", row.LastSeenAt)
				}
				continue
			}
			if !row.LastSeenAt.Equal(clock.Now()) || row.IP != fmt.Sprintf("192.0.2.%d", s.ID%250) || row.UserAgent != agent(s) {
				t.Fatalf("session %d: seen %v ip %q ua %q; want its request's", s.ID, row.LastSeenAt, row.IP, row.UserAgent)
			}
		}
		m.FlushTouches()
		if n := m.TouchWrites.Load(); n != 2498 {
			t.Fatalf("the skipped touches were kept: %d touch writes after the next write", n)
		}
	})
}
