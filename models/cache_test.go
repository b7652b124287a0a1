package models_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"sessiond/models"
	"sessiond/models/testdb"
)

// cachedManager is a manager whose DB carries a session cache.
func cachedManager(t testing.TB, db *models.DB, p models.Policy, clock *testdb.Clock) (*models.SessionManager, *models.SessionCache) {
	t.Helper()
	c := models.NewSessionCache(time.Hour, 1000)
	m := newManager(t, db, p, clock)
	m.SetCache(c)
	return m, c
}

// warm authenticates token twice and checks the second answer came from
// the cache.
func warm(t *testing.T, m *models.SessionManager, c *models.SessionCache, token string) {
	t.Helper()
	ctx := context.Background()
	if _, err := m.Authenticate(ctx, token, theClient); err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	hits, _ := c.Counts()
	asked := 0
	if _, err := m.Authenticate(ctx, token, func() models.Client { asked++; return client }); err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	if now, _ := c.Counts(); now != hits+1 {
		t.Fatal("second Authenticate did not hit the cache")
	}
	if asked != 0 {
		t.Fatalf("a cache hit asked for the client %d time(s); it needs no IP or user agent", asked)
	}
}

// TestEveryRevocation_DropsTheCachedSessionAtOnce is the guard of the
// cache: after each revoking operation in models, the session's cached
// entry must be gone, so the very next request is refused. A new revoking
// function belongs in this table.
func TestEveryRevocation_DropsTheCachedSessionAtOnce(t *testing.T) {
	a := models.Audit{UserAgent: "test"}
	ops := []struct {
		name   string
		revoke func(ctx context.Context, db *models.DB, m *models.SessionManager, token string, s *models.Session) error
	}{
		{"DeleteSession", func(ctx context.Context, db *models.DB, m *models.SessionManager, tok string, s *models.Session) error {
			_, err := m.DeleteSession(ctx, tok, a)
			return err
		}},
		{"RevokeToken", func(ctx context.Context, db *models.DB, m *models.SessionManager, tok string, s *models.Session) error {
			_, err := m.RevokeToken(ctx, tok, a)
			return err
		}},
		{"DeleteSessionByID", func(ctx context.Context, db *models.DB, m *models.SessionManager, tok string, s *models.Session) error {
			_, err := m.DeleteSessionByID(ctx, s.ID, models.EventSessionRevoked, a)
			return err
		}},
		{"DeleteUserSession", func(ctx context.Context, db *models.DB, m *models.SessionManager, tok string, s *models.Session) error {
			_, err := m.DeleteUserSession(ctx, s.UserID, s.ID, models.EventSessionRevoked, a)
			return err
		}},
		{"DeleteUserSessions", func(ctx context.Context, db *models.DB, m *models.SessionManager, tok string, s *models.Session) error {
			_, err := m.DeleteUserSessions(ctx, s.UserID, a)
			return err
		}},
		{"DeleteUserSessionsExcept", func(ctx context.Context, db *models.DB, m *models.SessionManager, tok string, s *models.Session) error {
			_, err := m.DeleteUserSessionsExcept(ctx, s.UserID, s.ID+1000, models.EventUserForceLogout, a)
			return err
		}},
		{"RotateToken", func(ctx context.Context, db *models.DB, m *models.SessionManager, tok string, s *models.Session) error {
			_, err := m.RotateToken(ctx, s.ID)
			return err
		}},
		{"DeleteUser", func(ctx context.Context, db *models.DB, m *models.SessionManager, tok string, s *models.Session) error {
			_, err := models.DeleteUser(ctx, db, s.UserID, a, m.Now())
			return err
		}},
		{"SetUserRole", func(ctx context.Context, db *models.DB, m *models.SessionManager, tok string, s *models.Session) error {
			_, err := models.SetUserRole(ctx, db, s.UserID, models.RoleAdmin, a, m.Now())
			return err
		}},
		{"SetUserPassword", func(ctx context.Context, db *models.DB, m *models.SessionManager, tok string, s *models.Session) error {
			_, err := models.SetUserPassword(ctx, db, s.UserID, "another password 123", 0, a, m.Now())
			return err
		}},
	}
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		m, c := cachedManager(t, db, testPolicy, nil)
		ctx := context.Background()
		for i, op := range ops {
			t.Run(op.name, func(t *testing.T) {
				u := insertUsers(t, db, "guard"+op.name, 1)[0]
				tok, s := createSession(t, m, u.ID, m.Now().Add(time.Hour))
				other, _ := createSession(t, m, insertUsers(t, db, "bystander"+op.name, 1)[0].ID, m.Now().Add(time.Hour))
				warm(t, m, c, tok)
				warm(t, m, c, other)
				if err := op.revoke(ctx, db, m, tok, s); err != nil {
					t.Fatalf("%s: %v", op.name, err)
				}
				if _, err := m.Authenticate(ctx, tok, theClient); !errors.Is(err, models.ErrNotFound) {
					t.Fatalf("op %d %s left the session usable: %v", i, op.name, err)
				}
				if _, err := m.Authenticate(ctx, other, theClient); err != nil {
					t.Fatalf("%s ended a bystander's session: %v", op.name, err)
				}
			})
		}
	})
}

func TestAuthenticate_CachedSession_StillExpiresAndSlides(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		clock := testdb.NewClock()
		m, c := cachedManager(t, db, testPolicy, clock)
		ctx := context.Background()
		u := insertUsers(t, db, "slide", 1)[0]
		tok, _ := createSession(t, m, u.ID, clock.Now().Add(testPolicy.MaxAge))
		warm(t, m, c, tok)

		// Past updateAge: a hit that needs an extension goes to the database.
		clock.Advance(testPolicy.UpdateAge + time.Second)
		v, err := m.Authenticate(ctx, tok, theClient)
		if err != nil || !v.Extended {
			t.Fatalf("after updateAge: %+v %v, want an extension", v, err)
		}
		if m.ExtendWrites.Load() != 1 {
			t.Fatalf("ExtendWrites = %d", m.ExtendWrites.Load())
		}
		warm(t, m, c, tok)

		// Past its expiry (no request in between): refused although cached.
		clock.Advance(testPolicy.MaxAge + time.Second)
		if _, err := m.Authenticate(ctx, tok, theClient); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("expired session served from cache: %v", err)
		}
	})
}

// TestRefreshWrites_AtMostOnePerUpdateAge counts the conditional UPDATEs
// with the cache on: none while nothing is due, one per updateAge window,
// and with updateAge (and touch interval) 0 one per request.
func TestRefreshWrites_AtMostOnePerUpdateAge(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		clock := testdb.NewClock()
		m, _ := cachedManager(t, db, testPolicy, clock)
		u := insertUsers(t, db, "writes", 1)[0]
		tok, _ := createSession(t, m, u.ID, clock.Now().Add(testPolicy.MaxAge))
		for window := range 3 {
			for range 50 {
				if _, err := m.Authenticate(ctx, tok, theClient); err != nil {
					t.Fatal(err)
				}
				clock.Advance(testPolicy.UpdateAge / 100)
			}
			clock.Advance(testPolicy.UpdateAge / 2)
			if got := m.ExtendWrites.Load(); got > int64(window+1) {
				t.Fatalf("window %d: %d extension writes, want ≤ %d", window, got, window+1)
			}
		}
		if w := m.ExtendWrites.Load() + m.TouchWrites.Load(); w > 6 {
			t.Fatalf("%d refresh writes over 3 updateAge windows, want ≤ 6 (≤ 1 extension and 1 touch per window)", w)
		}

		every := models.Policy{MaxAge: time.Hour}
		m0, _ := cachedManager(t, db, every, clock)
		tok0, _ := createSession(t, m0, u.ID, clock.Now().Add(time.Hour))
		for range 20 {
			clock.Advance(time.Millisecond)
			if _, err := m0.Authenticate(ctx, tok0, theClient); err != nil {
				t.Fatal(err)
			}
		}
		if w := m0.ExtendWrites.Load(); w != 20 {
			t.Fatalf("SESSION_UPDATE_AGE=0: %d writes for 20 requests, want 20", w)
		}
	})
}

// TestCache_ASessionDueAWrite_CountsAsAMiss: the hit rate says how often
// the cache answered; a cached session due a last-seen touch is answered
// by the database (and written), so it is a miss.
func TestCache_ASessionDueAWrite_CountsAsAMiss(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		clock := testdb.NewClock()
		m, c := cachedManager(t, db, models.Policy{MaxAge: time.Hour, UpdateAge: time.Hour, TouchInterval: 5 * time.Minute}, clock)
		u := testdb.CreateUser(t, db, "due@example.com", models.RoleUser)
		tok, _ := signIn(t, m, u.ID)
		warm(t, m, c, tok)
		hits, misses := c.Counts()
		clock.Advance(6 * time.Minute) // a touch is due; the entry (TTL 1 h) is still there
		if _, err := m.Authenticate(context.Background(), tok, theClient); err != nil {
			t.Fatal(err)
		}
		if h, ms := c.Counts(); h != hits || ms != misses+1 {
			t.Fatalf("after a lookup due a touch: %d hits, %d misses; want %d, %d", h, ms, hits, misses+1)
		}
		if m.TouchWrites.Load() != 1 {
			t.Fatalf("%d touch writes, want 1", m.TouchWrites.Load())
		}
	})
}
