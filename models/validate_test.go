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

// signIn creates a session the way the login handler does and returns its
// token and row.
func signIn(t testing.TB, m *models.SessionManager, userID int64) (string, *models.Session) {
	t.Helper()
	tok, s, err := m.SignIn(context.Background(), userID, client)
	if err != nil {
		t.Fatalf("SignIn: %v", err)
	}
	return tok, s
}

func TestValidate_BeforeUpdateAge_NoWrite_AfterUpdateAge_ExactlyOneExtension(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		clock := testdb.NewClock()
		p := models.Policy{MaxAge: time.Hour, UpdateAge: 10 * time.Minute, TouchInterval: 24 * time.Hour}
		m := newManager(t, db, p, clock)
		u := testdb.CreateUser(t, db, "slide@example.com", models.RoleUser)
		tok, s := signIn(t, m, u.ID)
		created := clock.Now()
		if !s.ExpiresAt.Equal(created.Add(p.MaxAge)) {
			t.Fatalf("SignIn expiry = %v, want now+MaxAge %v", s.ExpiresAt, created.Add(p.MaxAge))
		}

		clock.Advance(p.UpdateAge - time.Microsecond)
		v, err := m.Authenticate(ctx, tok, theClient)
		if err != nil {
			t.Fatalf("Authenticate before UpdateAge: %v", err)
		}
		if v.Extended || m.ExtendWrites.Load() != 0 || m.TouchWrites.Load() != 0 {
			t.Fatalf("before UpdateAge: Extended=%v extend writes=%d touch writes=%d; want no write",
				v.Extended, m.ExtendWrites.Load(), m.TouchWrites.Load())
		}
		if row, _ := sessionRow(t, db, s.ID); !row.ExpiresAt.Equal(s.ExpiresAt) {
			t.Fatalf("expires_at moved to %v before UpdateAge", row.ExpiresAt)
		}

		clock.Advance(time.Microsecond) // UpdateAge has now passed exactly
		v, err = m.Authenticate(ctx, tok, theClient)
		if err != nil {
			t.Fatalf("Authenticate at UpdateAge: %v", err)
		}
		want := clock.Now().Add(p.MaxAge)
		if !v.Extended || m.ExtendWrites.Load() != 1 || !v.Session.ExpiresAt.Equal(want) {
			t.Fatalf("at UpdateAge: Extended=%v writes=%d expires=%v; want extended once to %v",
				v.Extended, m.ExtendWrites.Load(), v.Session.ExpiresAt, want)
		}
		if row, _ := sessionRow(t, db, s.ID); !row.ExpiresAt.Equal(want) {
			t.Fatalf("stored expires_at = %v, want %v", row.ExpiresAt, want)
		}

		for range 5 {
			clock.Advance(time.Minute)
			if v, err := m.Authenticate(ctx, tok, theClient); err != nil || v.Extended {
				t.Fatalf("Authenticate right after an extension = %+v, %v; want no extension", v, err)
			}
		}
		if n := m.ExtendWrites.Load(); n != 1 {
			t.Fatalf("%d extension writes, want exactly 1", n)
		}
		if evs := events(t, db, models.EventSessionExtended); len(evs) != 1 {
			t.Fatalf("%d session.extended events, want 1", len(evs))
		}
	})
}

func TestValidate_UpdateAgeZero_EveryCallExtends(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		clock := testdb.NewClock()
		p := models.Policy{MaxAge: time.Hour, UpdateAge: 0, TouchInterval: 24 * time.Hour}
		m := newManager(t, db, p, clock)
		u := testdb.CreateUser(t, db, "every@example.com", models.RoleUser)
		tok, s := signIn(t, m, u.ID)
		for i := 1; i <= 5; i++ {
			clock.Advance(time.Millisecond)
			v, err := m.Authenticate(ctx, tok, theClient)
			if err != nil {
				t.Fatalf("call %d: %v", i, err)
			}
			want := clock.Now().Add(p.MaxAge)
			if !v.Extended || !v.Session.ExpiresAt.Equal(want) {
				t.Fatalf("call %d: Extended=%v expires=%v; want extended to %v", i, v.Extended, v.Session.ExpiresAt, want)
			}
			if row, _ := sessionRow(t, db, s.ID); !row.ExpiresAt.Equal(want) {
				t.Fatalf("call %d: stored expires_at = %v, want %v", i, row.ExpiresAt, want)
			}
			if n := m.ExtendWrites.Load(); n != int64(i) {
				t.Fatalf("call %d: %d extension writes, want %d", i, n, i)
			}
		}
	})
}

func TestValidate_TouchInterval_UpdatesLastSeenIPAndAgentAtMostOncePerInterval(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		clock := testdb.NewClock()
		// UpdateAge = MaxAge: a live session never extends, so every write is a touch.
		p := models.Policy{MaxAge: time.Hour, UpdateAge: time.Hour, TouchInterval: 5 * time.Minute}
		m := newManager(t, db, p, clock)
		u := testdb.CreateUser(t, db, "touch@example.com", models.RoleUser)
		tok, s := signIn(t, m, u.ID)
		created := clock.Now()
		asked := int64(0) // times Validate asked for the client: only for a write

		check := func(step string, seen time.Time, c models.Client, touches int64) {
			t.Helper()
			row, _ := sessionRow(t, db, s.ID)
			if !row.LastSeenAt.Equal(seen) || row.IP != c.IP || row.UserAgent != c.UserAgent {
				t.Fatalf("%s: stored seen=%v ip=%q ua=%q; want %v %q %q", step, row.LastSeenAt, row.IP, row.UserAgent, seen, c.IP, c.UserAgent)
			}
			if !row.ExpiresAt.Equal(s.ExpiresAt) {
				t.Fatalf("%s: a touch moved expires_at to %v", step, row.ExpiresAt)
			}
			if n := m.TouchWrites.Load(); n != touches {
				t.Fatalf("%s: %d touch writes, want %d", step, n, touches)
			}
			if asked != touches {
				t.Fatalf("%s: the client was asked for %d time(s), want %d (once per write)", step, asked, touches)
			}
		}
		auth := func(c models.Client) {
			t.Helper()
			if v, err := m.Authenticate(ctx, tok, func() models.Client { asked++; return c }); err != nil || v.Extended {
				t.Fatalf("Authenticate = %+v, %v; want valid, not extended", v, err)
			}
		}
		b := models.Client{IP: "198.51.100.2", UserAgent: "Agent/B"}
		c := models.Client{IP: "198.51.100.3", UserAgent: "Agent/C"}
		d := models.Client{IP: "198.51.100.4", UserAgent: "Agent/D"}

		clock.Advance(time.Minute)
		auth(b)
		check("1 min", created, client, 0)

		clock.Advance(4*time.Minute - time.Microsecond)
		auth(b)
		check("just under 5 min", created, client, 0)

		clock.Advance(time.Microsecond)
		touched := clock.Now()
		auth(c)
		check("5 min", touched, c, 1)

		clock.Advance(4 * time.Minute)
		auth(d)
		check("9 min", touched, c, 1)

		clock.Advance(time.Minute)
		auth(d)
		check("10 min", clock.Now(), d, 2)
		if m.ExtendWrites.Load() != 0 {
			t.Fatalf("%d extension writes, want 0", m.ExtendWrites.Load())
		}
	})
}

func TestValidate_ExpiredSession_RefusedButLeftInTable(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		clock := testdb.NewClock()
		m := newManager(t, db, testPolicy, clock)
		u := testdb.CreateUser(t, db, "expired@example.com", models.RoleUser)
		tok, s := signIn(t, m, u.ID)

		clock.Advance(testPolicy.MaxAge - time.Microsecond)
		if _, err := m.Authenticate(ctx, tok, theClient); err != nil {
			t.Fatalf("1µs before expiry: %v", err)
		}
		// The last call extended the session; move to exactly its expiry.
		row, _ := sessionRow(t, db, s.ID)
		clock.Set(row.ExpiresAt)
		eventsBefore := countAllEvents(t, db)
		_, err := m.Authenticate(ctx, tok, theClient)
		if !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("Authenticate at exactly the expiry: err = %v, want ErrNotFound", err)
		}
		after, ok := sessionRow(t, db, s.ID)
		if !ok {
			t.Fatal("the expired session was deleted; it must stay for the admin list until cleanup")
		}
		if !after.ExpiresAt.Equal(row.ExpiresAt) || !after.LastSeenAt.Equal(row.LastSeenAt) {
			t.Fatalf("refusing an expired session wrote to it: %+v -> %+v", row, after)
		}
		if n := countAllEvents(t, db); n != eventsBefore {
			t.Fatalf("refusal wrote %d events", n-eventsBefore)
		}
	})
}

func TestValidate_AbsoluteLifetime_ExpiryNeverPassesCap_RefusedAtCap(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		clock := testdb.NewClock()
		p := models.Policy{MaxAge: time.Hour, UpdateAge: 0, AbsoluteLifetime: 3 * time.Hour, TouchInterval: 24 * time.Hour}
		m := newManager(t, db, p, clock)
		u := testdb.CreateUser(t, db, "cap@example.com", models.RoleUser)
		tok, s := signIn(t, m, u.ID)
		limit := s.CreatedAt.Add(p.AbsoluteLifetime)

		for clock.Now().Before(limit.Add(-50 * time.Minute)) {
			clock.Advance(50 * time.Minute)
			v, err := m.Authenticate(ctx, tok, theClient)
			if err != nil {
				t.Fatalf("at +%v: %v", clock.Now().Sub(s.CreatedAt), err)
			}
			row, _ := sessionRow(t, db, s.ID)
			if row.ExpiresAt.After(limit) || v.Session.ExpiresAt.After(limit) {
				t.Fatalf("at +%v: expiry %v passes the cap %v", clock.Now().Sub(s.CreatedAt), row.ExpiresAt, limit)
			}
		}
		if row, _ := sessionRow(t, db, s.ID); !row.ExpiresAt.Equal(limit) {
			t.Fatalf("sliding should have reached the cap: expires %v, cap %v", row.ExpiresAt, limit)
		}
		clock.Set(limit.Add(-time.Microsecond))
		if _, err := m.Authenticate(ctx, tok, theClient); err != nil {
			t.Fatalf("1µs before the cap: %v", err)
		}
		clock.Set(limit)
		_, err := m.Authenticate(ctx, tok, theClient)
		wantNotFound(t, err, "Authenticate at the absolute cap")
	})
}

func TestValidate_AbsoluteLifetime_RefusesEvenWhenStoredExpiryIsLater(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		clock := testdb.NewClock()
		p := models.Policy{MaxAge: 24 * time.Hour, UpdateAge: time.Hour, AbsoluteLifetime: 3 * time.Hour, TouchInterval: time.Minute}
		m := newManager(t, db, p, clock)
		u := testdb.CreateUser(t, db, "cap2@example.com", models.RoleUser)
		tok, s := createSession(t, m, u.ID, clock.Now().Add(10*time.Hour))
		clock.Advance(p.AbsoluteLifetime)
		_, err := m.Authenticate(ctx, tok, theClient)
		wantNotFound(t, err, "Authenticate past the absolute lifetime")
		if row, ok := sessionRow(t, db, s.ID); !ok || !row.ExpiresAt.Equal(s.ExpiresAt) {
			t.Fatalf("row after refusal: present=%v expires=%v", ok, row.ExpiresAt)
		}
	})
}

func TestValidate_FiftyRefreshesRacingDelete_NeverResurrectSession(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		// Every Validate writes: UpdateAge 0 and TouchInterval 0.
		m := newManager(t, db, models.Policy{MaxAge: time.Hour, UpdateAge: 0, TouchInterval: 0}, nil)
		u := testdb.CreateUser(t, db, "race@example.com", models.RoleUser)
		tok, _ := signIn(t, m, u.ID)
		stale, err := m.GetSessionWithUser(ctx, tok)
		if err != nil {
			t.Fatal(err)
		}

		start := make(chan struct{})
		var wg sync.WaitGroup
		errs := make(chan error, 50)
		for range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				// A request that looked the session up before the delete
				// keeps refreshing until it is refused.
				for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
					_, err := m.Validate(ctx, stale, theClient)
					if errors.Is(err, models.ErrNotFound) {
						return
					}
					if err != nil {
						errs <- err
						return
					}
				}
				errs <- errors.New("still refreshed 20s after the delete")
			}()
		}
		close(start)
		for deadline := time.Now().Add(10 * time.Second); m.ExtendWrites.Load()+m.TouchWrites.Load() < 20 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		if n, err := m.DeleteSession(ctx, tok, models.Audit{}); err != nil || n != 1 {
			t.Fatalf("DeleteSession = %d, %v; want 1", n, err)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("Validate: %v", err)
		}
		_, err = m.GetSession(ctx, tok)
		wantNotFound(t, err, "GetSession after the race")
		if n := countSessions(t, db); n != 0 {
			t.Fatalf("%d session rows after delete, want 0 (a refresh resurrected it)", n)
		}
		if _, err := m.Authenticate(ctx, tok, theClient); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("Authenticate after delete: err = %v, want ErrNotFound", err)
		}
	})
}

// Two requests in flight: A looked the session up and reads its clock just
// before the extension point (so it only touches); B, a microsecond later,
// extends and re-issues the cookie. A's touch landing after B's extension
// must not move the expiry back under the cookie B sent.
func TestValidate_StaleTouchAfterConcurrentExtension_DoesNotShortenExpiry(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		p := models.Policy{MaxAge: time.Hour, UpdateAge: 10 * time.Minute, TouchInterval: 5 * time.Minute}
		clockB := testdb.NewClock()
		mB := newManager(t, db, p, clockB)
		u := testdb.CreateUser(t, db, "stale@example.com", models.RoleUser)
		tok, s := signIn(t, mB, u.ID)
		clockA := testdb.NewClock()
		clockA.Set(s.CreatedAt.Add(p.UpdateAge - time.Microsecond))
		mA := newManager(t, db, p, clockA)
		clockB.Set(s.CreatedAt.Add(p.UpdateAge))

		staleA, err := mA.GetSessionWithUser(ctx, tok)
		if err != nil {
			t.Fatal(err)
		}
		vB, err := mB.Authenticate(ctx, tok, theClient)
		if err != nil || !vB.Extended {
			t.Fatalf("B: %+v, %v; want an extension", vB, err)
		}
		vA, err := mA.Validate(ctx, staleA, func() models.Client { return models.Client{IP: "198.51.100.9", UserAgent: "Agent/A"} })
		if err != nil || vA.Extended {
			t.Fatalf("A: %+v, %v; want a touch without extension", vA, err)
		}
		row, _ := sessionRow(t, db, s.ID)
		if row.ExpiresAt.Before(vB.Session.ExpiresAt) {
			t.Fatalf("expires_at went back from %v (B's cookie) to %v after A's stale touch", vB.Session.ExpiresAt, row.ExpiresAt)
		}
		if row.IP != "198.51.100.9" || !row.LastSeenAt.Equal(clockA.Now()) {
			t.Fatalf("A's touch not recorded: ip %q seen %v", row.IP, row.LastSeenAt)
		}
	})
}

// Many lookups at once, two per token and some of unknown tokens, beside
// writes: each gets its own session or ErrNotFound, never another's. On
// SQLite each holds a lookup connection of its own (the test fails under
// -race if one is shared); on PostgreSQL lookups that arrive together
// share a query, and fewer queries than lookups prove they did.
func TestLookup_ManyConcurrentLookups_EachGetsItsOwnSession(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		m := newManager(t, db, models.DefaultPolicy, nil)
		ctx := context.Background()
		users := insertUsers(t, db, "lookup", 8)
		toks := make([]string, 32)
		ids := make([]int64, len(toks))
		for i := range toks {
			var s *models.Session
			toks[i], s = createSession(t, m, users[i%len(users)].ID, time.Now().Add(time.Hour))
			ids[i] = s.ID
		}
		lookups0, queries0 := m.Lookups.Load(), m.LookupQueries()
		var wg sync.WaitGroup
		for i := range 2 * len(toks) {
			i := i % len(toks)
			wg.Go(func() {
				for range 50 {
					s, err := m.GetSessionWithUser(ctx, toks[i])
					if err != nil || s.ID != ids[i] || s.UserID != users[i%len(users)].ID || s.User.Email != users[i%len(users)].Email {
						t.Errorf("lookup %d: %v, %+v", i, err, s)
						return
					}
				}
			})
		}
		for range 4 {
			wg.Go(func() {
				for range 50 {
					if s, err := m.GetSessionWithUser(ctx, newToken(t)); !errors.Is(err, models.ErrNotFound) {
						t.Errorf("unknown token: %v, %+v; want ErrNotFound", err, s)
						return
					}
				}
			})
		}
		wg.Go(func() { // writes beside the lookups
			for range 20 {
				tok, _ := createSession(t, m, users[0].ID, time.Now().Add(time.Hour))
				if _, err := m.DeleteSession(ctx, tok, models.Audit{}); err != nil {
					t.Errorf("DeleteSession: %v", err)
				}
				if _, err := m.GetSessionWithUser(ctx, tok); !errors.Is(err, models.ErrNotFound) {
					t.Errorf("lookup right after delete: %v, want ErrNotFound", err)
				}
			}
		})
		wg.Wait()
		lookups, queries := m.Lookups.Load()-lookups0, m.LookupQueries()-queries0
		t.Logf("%d lookups in %d queries", lookups, queries)
		if want := int64(2*len(toks)*50 + 4*50 + 20); lookups != want {
			t.Errorf("%d lookups counted, want %d", lookups, want)
		}
		if db.Kind == models.Postgres && queries >= lookups {
			t.Errorf("PostgreSQL: %d queries for %d concurrent lookups, want fewer (batched)", queries, lookups)
		}
		if db.Kind == models.SQLite && queries != lookups {
			t.Errorf("SQLite: %d queries for %d lookups, want one each", queries, lookups)
		}
	})
}

// Once the database is closed a lookup answers "unavailable" (a 503
// upstream) at once, neither hanging for a connection nor serving the
// session from the SQLite lookup's own connections, alone or with many
// others; closing twice is harmless.
func TestLookup_AfterClose_IsUnavailable(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		m := newManager(t, db, models.DefaultPolicy, nil)
		u := insertUsers(t, db, "closed", 1)[0]
		tok, _ := createSession(t, m, u.ID, time.Now().Add(time.Hour))
		if _, err := m.GetSessionWithUser(context.Background(), tok); err != nil {
			t.Fatalf("before close: %v", err)
		}
		if err := db.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if _, err := m.GetSessionWithUser(context.Background(), tok); !errors.Is(err, models.ErrUnavailable) {
			t.Fatalf("after close: %v, want ErrUnavailable", err)
		}
		// Many at once: each returns unavailable, none waits for ever. (They
		// fail too fast to batch here; TestPgLookup_FailedBatch… fails batches.)
		var wg sync.WaitGroup
		for range 64 {
			wg.Go(func() {
				if _, err := m.GetSessionWithUser(context.Background(), tok); !errors.Is(err, models.ErrUnavailable) {
					t.Errorf("concurrent lookup after close: %v, want ErrUnavailable", err)
				}
			})
		}
		wg.Wait()
		if err := db.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	})
}

// sessiond's PostgreSQL connections use generic plans for the statements it
// prepares: the batched lookup's token_hash = ANY($1) would otherwise be
// planned anew on every execution (it was, at 2.3× the time of a lookup).
// Statements time out after 10 s, so a lookup stuck behind a lock fails (a
// 503) instead of holding its request forever. A DATABASE_URL that sets
// either parameter keeps its choice (statement_timeout=0: none).
func TestPostgres_ConnectionSettings_GenericPlansAndAStatementTimeout(t *testing.T) {
	url := testdb.PostgresURL(t)
	for _, c := range []struct{ url, setting, want string }{
		{url, "plan_cache_mode", "force_generic_plan"},
		{url + "&plan_cache_mode=auto", "plan_cache_mode", "auto"},
		{url, "statement_timeout", "10s"},
		{url + "&statement_timeout=250", "statement_timeout", "250ms"},
		{url + "&statement_timeout=0", "statement_timeout", "0"},
	} {
		db := testdb.Open(t, c.url)
		var got string
		if err := db.Read.QueryRowContext(context.Background(), "SHOW "+c.setting).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("%s: %s %q, want %q", c.url, c.setting, got, c.want)
		}
	}
}
