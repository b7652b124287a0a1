package models_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"sessiond/models"
	"sessiond/models/testdb"
)

func TestCreateSession_StoresHashExpiryAndClient_GetSessionReadsItBack(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		clock := testdb.NewClock()
		m := newManager(t, db, testPolicy, clock)
		u := testdb.CreateUser(t, db, "create@example.com", models.RoleUser)
		expires := clock.Now().Add(time.Hour)
		tok, s := createSession(t, m, u.ID, expires)

		if s.ID == 0 {
			t.Fatal("CreateSession returned id 0")
		}
		got, err := m.GetSession(ctx, tok)
		if err != nil {
			t.Fatalf("GetSession: %v", err)
		}
		if got.ID != s.ID || got.UserID != u.ID || got.TokenHash != models.HashToken(tok) {
			t.Fatalf("GetSession = id %d user %d hash %s; want id %d user %d hash of token", got.ID, got.UserID, got.TokenHash, s.ID, u.ID)
		}
		if !got.ExpiresAt.Equal(expires) || !got.CreatedAt.Equal(clock.Now()) || !got.LastSeenAt.Equal(clock.Now()) {
			t.Fatalf("times: expires %v created %v seen %v; want expires %v, created=seen=%v",
				got.ExpiresAt, got.CreatedAt, got.LastSeenAt, expires, clock.Now())
		}
		if got.IP != client.IP || got.UserAgent != client.UserAgent {
			t.Fatalf("client = %q %q, want %q %q", got.IP, got.UserAgent, client.IP, client.UserAgent)
		}
	})
}

func TestCreateSession_SameTokenTwice_Conflict(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		m := newManager(t, db, testPolicy, nil)
		u := testdb.CreateUser(t, db, "dup@example.com", models.RoleUser)
		tok, _ := createSession(t, m, u.ID, time.Now().Add(time.Hour))
		_, err := m.CreateSession(context.Background(), tok, u.ID, time.Now().Add(time.Hour), client)
		if !errors.Is(err, models.ErrConflict) {
			t.Fatalf("second CreateSession with the same token: err = %v, want ErrConflict", err)
		}
		if n := countSessions(t, db); n != 1 {
			t.Fatalf("%d sessions, want 1", n)
		}
	})
}

func TestCreateSession_UnknownUser_RefusedByForeignKey(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		m := newManager(t, db, testPolicy, nil)
		if _, err := m.CreateSession(context.Background(), newToken(t), 999999, time.Now().Add(time.Hour), client); err == nil {
			t.Fatal("CreateSession for a user that does not exist succeeded; foreign keys are off")
		}
		if n := countSessions(t, db); n != 0 {
			t.Fatalf("%d sessions, want 0", n)
		}
		if n := countAllEvents(t, db); n != 0 {
			t.Fatalf("%d events written for a failed create, want 0", n)
		}
	})
}

func TestGetSession_UnknownToken_NotFound_ExpiredStillReturned(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		clock := testdb.NewClock()
		m := newManager(t, db, testPolicy, clock)
		u := testdb.CreateUser(t, db, "get@example.com", models.RoleUser)

		_, err := m.GetSession(ctx, newToken(t))
		wantNotFound(t, err, "GetSession(never issued)")

		tok, s := createSession(t, m, u.ID, clock.Now().Add(-time.Hour))
		got, err := m.GetSession(ctx, tok)
		if err != nil || got.ID != s.ID {
			t.Fatalf("GetSession(expired) = %v, %v; want the expired row %d", got, err, s.ID)
		}
	})
}

func TestGetSessionWithUser_JoinsUser_RefusesMalformedAndUnknownTokens(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		clock := testdb.NewClock()
		m := newManager(t, db, testPolicy, clock)
		u := testdb.CreateUser(t, db, "join@example.com", models.RoleAdmin)
		tok, s := createSession(t, m, u.ID, clock.Now().Add(time.Hour))

		got, err := m.GetSessionWithUser(ctx, tok)
		if err != nil {
			t.Fatalf("GetSessionWithUser: %v", err)
		}
		if got.ID != s.ID || got.UserID != u.ID || got.TokenHash != s.TokenHash || !got.ExpiresAt.Equal(s.ExpiresAt) ||
			!got.CreatedAt.Equal(s.CreatedAt) || !got.LastSeenAt.Equal(s.LastSeenAt) {
			t.Fatalf("session = %+v, want %+v", got, s)
		}
		if got.User == nil || got.User.ID != u.ID || got.User.Email != u.Email || got.User.Name != u.Name || got.User.Role != models.RoleAdmin {
			t.Fatalf("user = %+v, want %+v", got.User, u)
		}

		for name, bad := range map[string]string{
			"never issued": newToken(t),
			"empty":        "",
			"truncated":    tok[:len(tok)-1],
			"too long":     tok + "A",
			"bad char":     tok[:len(tok)-1] + "=",
			"sql":          "' OR 1=1 --",
		} {
			_, err := m.GetSessionWithUser(ctx, bad)
			wantNotFound(t, err, "GetSessionWithUser("+name+")")
		}

		expTok, expS := createSession(t, m, u.ID, clock.Now())
		got, err = m.GetSessionWithUser(ctx, expTok)
		if err != nil || got.ID != expS.ID {
			t.Fatalf("GetSessionWithUser(expired) = %v, %v; want the row (expiry is Validate's job)", got, err)
		}
	})
}

func TestUpdateSession_LiveSession_SetsExpiry_AuditsAndDropsTheCachedSession(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		clock := testdb.NewClock()
		m, _ := cachedManager(t, db, testPolicy, clock)
		u := testdb.CreateUser(t, db, "upd@example.com", models.RoleUser)
		tok, s := createSession(t, m, u.ID, clock.Now().Add(testPolicy.MaxAge))
		if _, err := m.Authenticate(ctx, tok, theClient); err != nil { // now cached
			t.Fatal(err)
		}
		want := clock.Now().Add(testPolicy.MaxAge - time.Minute) // no extension due after it
		if err := m.UpdateSession(ctx, tok, want, models.Audit{ActorID: u.ID}); err != nil {
			t.Fatalf("UpdateSession: %v", err)
		}
		row, _ := sessionRow(t, db, s.ID)
		if !row.ExpiresAt.Equal(want) {
			t.Fatalf("expires_at = %v, want %v", row.ExpiresAt, want)
		}
		v, err := m.Authenticate(ctx, tok, theClient)
		if err != nil || !v.Session.ExpiresAt.Equal(want) {
			t.Fatalf("after UpdateSession the request sees expiry %v (%v), want %v: the cache kept the old one", v.Session, err, want)
		}
		n, err := db.NewSelect().Table("session_events").Where("kind = ? AND session_id = ? AND user_id = ?", models.EventSessionUpdated, s.ID, u.ID).Count(ctx)
		if err != nil || n != 1 {
			t.Fatalf("%d session.updated events (%v), want 1", n, err)
		}
		if err := m.UpdateSession(ctx, "not-a-token", want, models.Audit{}); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("UpdateSession(malformed) = %v, want not found", err)
		}
	})
}

func TestUpdateSession_DeletedSession_NotFound_NotRecreated(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		clock := testdb.NewClock()
		m := newManager(t, db, testPolicy, clock)
		u := testdb.CreateUser(t, db, "upddel@example.com", models.RoleUser)
		tok, _ := createSession(t, m, u.ID, clock.Now().Add(time.Hour))
		if n, err := m.DeleteSession(ctx, tok, models.Audit{}); err != nil || n != 1 {
			t.Fatalf("DeleteSession = %d, %v", n, err)
		}
		err := m.UpdateSession(ctx, tok, clock.Now().Add(time.Hour), models.Audit{})
		wantNotFound(t, err, "UpdateSession(deleted)")
		if n := countSessions(t, db); n != 0 {
			t.Fatalf("%d sessions after updating a deleted one, want 0", n)
		}
	})
}

func TestUpdateSession_ExpiredSession_NotFound_Unchanged(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		clock := testdb.NewClock()
		m := newManager(t, db, testPolicy, clock)
		u := testdb.CreateUser(t, db, "updexp@example.com", models.RoleUser)
		expired := clock.Now() // expiring exactly now is expired
		tok, s := createSession(t, m, u.ID, expired)
		err := m.UpdateSession(ctx, tok, clock.Now().Add(time.Hour), models.Audit{})
		wantNotFound(t, err, "UpdateSession(expired)")
		row, ok := sessionRow(t, db, s.ID)
		if !ok || !row.ExpiresAt.Equal(expired) {
			t.Fatalf("expired row after UpdateSession: present=%v expires=%v; want present, expires %v", ok, row.ExpiresAt, expired)
		}
		if n := countSessions(t, db); n != 1 {
			t.Fatalf("%d sessions, want 1", n)
		}
	})
}

func TestDeleteSession_DeletesOnlyThatSession_SecondCallDeletesNothing(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		clock := testdb.NewClock()
		m := newManager(t, db, testPolicy, clock)
		u := testdb.CreateUser(t, db, "del@example.com", models.RoleUser)
		tok, _ := createSession(t, m, u.ID, clock.Now().Add(time.Hour))
		_, keep := createSession(t, m, u.ID, clock.Now().Add(time.Hour))

		if n, err := m.DeleteSession(ctx, tok, models.Audit{}); err != nil || n != 1 {
			t.Fatalf("DeleteSession = %d, %v; want 1", n, err)
		}
		_, err := m.GetSession(ctx, tok)
		wantNotFound(t, err, "GetSession(deleted)")
		if _, ok := sessionRow(t, db, keep.ID); !ok {
			t.Fatal("DeleteSession removed another session of the same user")
		}
		if n, err := m.DeleteSession(ctx, tok, models.Audit{}); err != nil || n != 0 {
			t.Fatalf("second DeleteSession = %d, %v; want 0, nil", n, err)
		}
	})
}

func TestDeleteUserSessions_DeletesAllOfThatUser_OthersUntouched(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		clock := testdb.NewClock()
		m := newManager(t, db, testPolicy, clock)
		users := insertUsers(t, db, "dus", 2)
		target, other := users[0], users[1]
		for range 3 {
			createSession(t, m, target.ID, clock.Now().Add(time.Hour))
		}
		createSession(t, m, target.ID, clock.Now().Add(-time.Hour)) // expired ones go too
		_, o1 := createSession(t, m, other.ID, clock.Now().Add(time.Hour))
		_, o2 := createSession(t, m, other.ID, clock.Now().Add(-time.Hour))

		n, err := m.DeleteUserSessions(ctx, target.ID, models.Audit{})
		if err != nil || n != 4 {
			t.Fatalf("DeleteUserSessions = %d, %v; want 4", n, err)
		}
		if c := countRows(t, db, "SELECT COUNT(*) FROM sessions WHERE user_id = ?", target.ID); c != 0 {
			t.Fatalf("%d sessions left for the user, want 0", c)
		}
		for _, id := range []int64{o1.ID, o2.ID} {
			if _, ok := sessionRow(t, db, id); !ok {
				t.Fatalf("another user's session %d was deleted", id)
			}
		}
		if n, err := m.DeleteUserSessions(ctx, target.ID, models.Audit{}); err != nil || n != 0 {
			t.Fatalf("second DeleteUserSessions = %d, %v; want 0", n, err)
		}
	})
}

func TestCleanupExpiredSessions_DeletesExpiringExactlyNow_KeepsLive(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		clock := testdb.NewClock()
		m := newManager(t, db, testPolicy, clock)
		users := insertUsers(t, db, "cln", 2)
		now := clock.Now()
		_, past := createSession(t, m, users[0].ID, now.Add(-24*time.Hour))
		_, exactlyNow := createSession(t, m, users[0].ID, now)
		_, inAMicro := createSession(t, m, users[0].ID, now.Add(time.Microsecond))
		_, otherExpired := createSession(t, m, users[1].ID, now.Add(-time.Second))
		_, otherLive := createSession(t, m, users[1].ID, now.Add(time.Hour))

		n, err := m.CleanupExpiredSessions(ctx)
		if err != nil || n != 3 {
			t.Fatalf("CleanupExpiredSessions = %d, %v; want 3", n, err)
		}
		for _, s := range []*models.Session{past, exactlyNow, otherExpired} {
			if _, ok := sessionRow(t, db, s.ID); ok {
				t.Errorf("session expiring at %v survived cleanup at %v", s.ExpiresAt, now)
			}
		}
		for _, s := range []*models.Session{inAMicro, otherLive} {
			if _, ok := sessionRow(t, db, s.ID); !ok {
				t.Errorf("live session expiring at %v deleted by cleanup at %v", s.ExpiresAt, now)
			}
		}
		if n, err := m.CleanupExpiredSessions(ctx); err != nil || n != 0 {
			t.Fatalf("second cleanup = %d, %v; want 0", n, err)
		}
		clock.Advance(time.Microsecond)
		if n, err := m.CleanupExpiredSessions(ctx); err != nil || n != 1 {
			t.Fatalf("cleanup 1µs later = %d, %v; want 1 (the session expiring then)", n, err)
		}
	})
}

func TestCleanupExpiredSessions_MoreThanOneBatch_DeletesAll(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		clock := testdb.NewClock()
		m := newManager(t, db, testPolicy, clock)
		u := insertUsers(t, db, "bulk", 1)[0]
		const expired = 10_050
		now := clock.Now()
		rows := make([]models.Session, 0, 1000)
		for i := range expired {
			rows = append(rows, models.Session{TokenHash: models.HashToken(fmt.Sprint("bulk", i)), UserID: u.ID,
				ExpiresAt: now.Add(-time.Duration(i+1) * time.Second), CreatedAt: now, LastSeenAt: now})
			if len(rows) == cap(rows) || i == expired-1 {
				if _, err := db.NewInsert().Model(&rows).Exec(ctx); err != nil {
					t.Fatalf("bulk insert: %v", err)
				}
				rows = rows[:0]
			}
		}
		_, live := createSession(t, m, u.ID, now.Add(time.Hour))
		n, err := m.CleanupExpiredSessions(ctx)
		if err != nil || n != expired {
			t.Fatalf("CleanupExpiredSessions = %d, %v; want %d", n, err, expired)
		}
		if c := countSessions(t, db); c != 1 {
			t.Fatalf("%d sessions left, want 1", c)
		}
		if _, ok := sessionRow(t, db, live.ID); !ok {
			t.Fatal("the live session was deleted")
		}
	})
}

func TestGetUserActiveSessions_ExcludesExpiringExactlyNowAndOtherUsers_NewestFirst(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		clock := testdb.NewClock()
		m := newManager(t, db, testPolicy, clock)
		users := insertUsers(t, db, "act", 2)
		now := clock.Now()
		createSession(t, m, users[0].ID, now.Add(-time.Hour))
		createSession(t, m, users[0].ID, now)
		_, older := createSession(t, m, users[0].ID, now.Add(time.Microsecond))
		clock.Advance(time.Second)
		_, newer := createSession(t, m, users[0].ID, now.Add(time.Hour))
		createSession(t, m, users[1].ID, now.Add(time.Hour))
		clock.Set(now)

		got, err := m.GetUserActiveSessions(ctx, users[0].ID)
		if err != nil {
			t.Fatalf("GetUserActiveSessions: %v", err)
		}
		if want := []int64{newer.ID, older.ID}; !reflect.DeepEqual(sessionIDs(got), want) {
			t.Fatalf("active = %v, want %v (newest first, expired and exactly-now excluded)", sessionIDs(got), want)
		}
		for _, s := range got {
			if s.UserID != users[0].ID {
				t.Fatalf("session of user %d listed for user %d", s.UserID, users[0].ID)
			}
		}
		clock.Advance(time.Microsecond)
		got, err = m.GetUserActiveSessions(ctx, users[0].ID)
		if err != nil || !reflect.DeepEqual(sessionIDs(got), []int64{newer.ID}) {
			t.Fatalf("active 1µs later = %v, %v; want [%d]", sessionIDs(got), err, newer.ID)
		}
		got, err = m.GetUserActiveSessions(ctx, 999999)
		if err != nil || len(got) != 0 {
			t.Fatalf("active for unknown user = %v, %v; want none", got, err)
		}
	})
}

func TestGetUserSessionCount_CountsOnlyLiveSessionsOfThatUser(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		clock := testdb.NewClock()
		m := newManager(t, db, testPolicy, clock)
		users := insertUsers(t, db, "cnt", 2)
		now := clock.Now()
		createSession(t, m, users[0].ID, now.Add(-time.Hour))
		createSession(t, m, users[0].ID, now)
		createSession(t, m, users[0].ID, now.Add(time.Microsecond))
		createSession(t, m, users[0].ID, now.Add(time.Hour))
		createSession(t, m, users[1].ID, now.Add(time.Hour))

		for _, tc := range []struct {
			user    int64
			advance time.Duration
			want    int
		}{
			{users[0].ID, 0, 2},
			{users[1].ID, 0, 1},
			{users[0].ID, time.Microsecond, 1},
			{999999, 0, 0},
		} {
			clock.Advance(tc.advance)
			n, err := m.GetUserSessionCount(ctx, tc.user)
			if err != nil || n != tc.want {
				t.Fatalf("GetUserSessionCount(%d) at +%v = %d, %v; want %d", tc.user, clock.Now().Sub(now), n, err, tc.want)
			}
		}
	})
}

func TestDeleteUser_CascadesToSessions_OthersUntouched(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		clock := testdb.NewClock()
		m := newManager(t, db, testPolicy, clock)
		users := insertUsers(t, db, "cas", 2)
		tok, _ := createSession(t, m, users[0].ID, clock.Now().Add(time.Hour))
		createSession(t, m, users[0].ID, clock.Now().Add(-time.Hour))
		_, other := createSession(t, m, users[1].ID, clock.Now().Add(time.Hour))

		n, err := models.DeleteUser(ctx, db, users[0].ID, models.Audit{}, clock.Now())
		if err != nil || n != 2 {
			t.Fatalf("DeleteUser = %d, %v; want 2 sessions ended", n, err)
		}
		_, err = m.GetSessionWithUser(ctx, tok)
		wantNotFound(t, err, "GetSessionWithUser after DeleteUser")
		if c := countRows(t, db, "SELECT COUNT(*) FROM sessions WHERE user_id = ?", users[0].ID); c != 0 {
			t.Fatalf("%d sessions of the deleted user remain", c)
		}
		if _, ok := sessionRow(t, db, other.ID); !ok {
			t.Fatal("another user's session went with the deleted user")
		}
		_, err = models.DeleteUser(ctx, db, users[0].ID, models.Audit{}, clock.Now())
		wantNotFound(t, err, "DeleteUser twice")
	})
}

// On SQLite the cascade works only if foreign_keys=ON on every pooled
// connection; this proves it under concurrent load.
func TestDeleteUser_UnderConcurrentLoad_LeavesNoOrphanSessions(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		m := newManager(t, db, models.Policy{MaxAge: time.Hour, UpdateAge: 0, TouchInterval: 0}, nil)
		users := insertUsers(t, db, "load", 16)
		doomed := map[int64]bool{}
		for i, u := range users {
			if i%2 == 0 {
				doomed[u.ID] = true
			}
		}
		tokens := make(map[int64][]string)
		for _, u := range users {
			for range 3 {
				tok, _ := createSession(t, m, u.ID, time.Now().Add(time.Hour))
				tokens[u.ID] = append(tokens[u.ID], tok)
			}
		}

		var wg sync.WaitGroup
		errs := make(chan error, 64)
		stop := make(chan struct{})
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					u := users[(g+i)%len(users)]
					if i%3 == 0 {
						tok, err := models.NewToken()
						if err == nil {
							_, err = m.CreateSession(ctx, tok, u.ID, time.Now().Add(time.Hour), client)
						}
						if err != nil && !doomed[u.ID] {
							errs <- fmt.Errorf("create for kept user %d: %w", u.ID, err)
							return
						}
						continue
					}
					_, err := m.Authenticate(ctx, tokens[u.ID][i%3], theClient)
					if err != nil && !(doomed[u.ID] && errors.Is(err, models.ErrNotFound)) {
						errs <- fmt.Errorf("authenticate user %d: %w", u.ID, err)
						return
					}
				}
			}()
		}
		for _, u := range users {
			if !doomed[u.ID] {
				continue
			}
			time.Sleep(5 * time.Millisecond)
			if _, err := models.DeleteUser(ctx, db, u.ID, models.Audit{}, time.Now()); err != nil {
				t.Errorf("DeleteUser %d: %v", u.ID, err)
			}
		}
		time.Sleep(20 * time.Millisecond)
		close(stop)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}

		if n := orphanSessions(t, db); n != 0 {
			t.Fatalf("%d sessions reference a deleted user", n)
		}
		if db.Kind == models.SQLite {
			if n := countRows(t, db, "SELECT COUNT(*) FROM pragma_foreign_key_check"); n != 0 {
				t.Fatalf("foreign_key_check reports %d violations", n)
			}
		}
		for _, u := range users {
			n, err := m.GetUserSessionCount(ctx, u.ID)
			if err != nil {
				t.Fatal(err)
			}
			if doomed[u.ID] && n != 0 || !doomed[u.ID] && n < 3 {
				t.Errorf("user %d (deleted=%v) has %d live sessions", u.ID, doomed[u.ID], n)
			}
		}
	})
}
