package models_test

import (
	"context"
	"testing"
	"time"

	"sessiond/models"
	"sessiond/models/testdb"
)

func TestCreateSession_WritesOneSessionCreatedEventWithClient(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		clock := testdb.NewClock()
		m := newManager(t, db, testPolicy, clock)
		u := insertUsers(t, db, "evc", 1)[0]
		before := countAllEvents(t, db)
		_, s := createSession(t, m, u.ID, clock.Now().Add(time.Hour))

		if n := countAllEvents(t, db) - before; n != 1 {
			t.Fatalf("CreateSession wrote %d events, want 1", n)
		}
		evs := events(t, db, models.EventSessionCreated)
		if len(evs) != 1 {
			t.Fatalf("%d session.created events, want 1", len(evs))
		}
		ev := evs[0]
		if ev.SessionID == nil || *ev.SessionID != s.ID || ev.UserID == nil || *ev.UserID != u.ID {
			t.Fatalf("event session/user = %v/%v, want %d/%d", ev.SessionID, ev.UserID, s.ID, u.ID)
		}
		if ev.IP != client.IP || ev.UserAgent != client.UserAgent {
			t.Fatalf("event client = %q %q, want %q %q", ev.IP, ev.UserAgent, client.IP, client.UserAgent)
		}
		if !ev.At.Equal(clock.Now()) {
			t.Fatalf("event at %v, want %v", ev.At, clock.Now())
		}
	})
}

func TestDeleteSession_WritesSessionSignedOutEvent(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		clock := testdb.NewClock()
		m := newManager(t, db, testPolicy, clock)
		u := insertUsers(t, db, "evd", 1)[0]
		tok, s := createSession(t, m, u.ID, clock.Now().Add(time.Hour))
		a := models.Audit{ActorID: u.ID, IP: "192.0.2.9", UserAgent: "Logout/1"}
		if n, err := m.DeleteSession(ctx, tok, a); err != nil || n != 1 {
			t.Fatalf("DeleteSession = %d, %v", n, err)
		}
		evs := events(t, db, models.EventSessionSignedOut)
		if len(evs) != 1 {
			t.Fatalf("%d session.signed_out events, want 1", len(evs))
		}
		ev := evs[0]
		if ev.SessionID == nil || *ev.SessionID != s.ID || ev.UserID == nil || *ev.UserID != u.ID ||
			ev.ActorID == nil || *ev.ActorID != u.ID || ev.IP != a.IP || ev.UserAgent != a.UserAgent {
			t.Fatalf("event = %+v, want session %d user %d actor %d from %q %q", ev, s.ID, u.ID, u.ID, a.IP, a.UserAgent)
		}

		before := countAllEvents(t, db)
		if n, err := m.DeleteSession(ctx, tok, a); err != nil || n != 0 {
			t.Fatalf("second DeleteSession = %d, %v", n, err)
		}
		if n := countAllEvents(t, db) - before; n != 0 {
			t.Fatalf("deleting nothing wrote %d events", n)
		}
	})
}

func TestDeleteUserSessions_WritesOneForceLogoutEventWithCount(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		clock := testdb.NewClock()
		m := newManager(t, db, testPolicy, clock)
		users := insertUsers(t, db, "evf", 2)
		for range 3 {
			createSession(t, m, users[0].ID, clock.Now().Add(time.Hour))
		}
		createSession(t, m, users[1].ID, clock.Now().Add(time.Hour))
		before := countAllEvents(t, db)
		admin := models.Audit{ActorID: users[1].ID, IP: "192.0.2.1", UserAgent: "Admin/1"}
		if n, err := m.DeleteUserSessions(ctx, users[0].ID, admin); err != nil || n != 3 {
			t.Fatalf("DeleteUserSessions = %d, %v; want 3", n, err)
		}
		if n := countAllEvents(t, db) - before; n != 1 {
			t.Fatalf("DeleteUserSessions wrote %d events, want 1", n)
		}
		evs := events(t, db, models.EventUserForceLogout)
		if len(evs) != 1 {
			t.Fatalf("%d user.force_logout events, want 1", len(evs))
		}
		ev := evs[0]
		if ev.Detail != "sessions=3" || ev.UserID == nil || *ev.UserID != users[0].ID ||
			ev.ActorID == nil || *ev.ActorID != users[1].ID || ev.SessionID != nil {
			t.Fatalf("event = %+v, want detail sessions=3 for user %d by actor %d, no session id", ev, users[0].ID, users[1].ID)
		}
	})
}

func TestDeleteSessionByID_UnknownID_NotFoundAndNoEvent(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		clock := testdb.NewClock()
		m := newManager(t, db, testPolicy, clock)
		u := insertUsers(t, db, "evi", 1)[0]
		_, s := createSession(t, m, u.ID, clock.Now().Add(time.Hour))
		before := countAllEvents(t, db)

		_, err := m.DeleteSessionByID(ctx, s.ID+1000, models.EventSessionRevoked, models.Audit{ActorID: u.ID})
		wantNotFound(t, err, "DeleteSessionByID(unknown)")
		if n := countAllEvents(t, db) - before; n != 0 {
			t.Fatalf("a failed delete wrote %d events", n)
		}
		if _, ok := sessionRow(t, db, s.ID); !ok {
			t.Fatal("deleting an unknown id removed another session")
		}

		gone, err := m.DeleteSessionByID(ctx, s.ID, models.EventSessionRevoked, models.Audit{ActorID: u.ID})
		if err != nil || gone.ID != s.ID || gone.UserID != u.ID {
			t.Fatalf("DeleteSessionByID(known) = %+v, %v", gone, err)
		}
		if evs := events(t, db, models.EventSessionRevoked); len(evs) != 1 || *evs[0].SessionID != s.ID {
			t.Fatalf("session.revoked events = %+v, want one for session %d", evs, s.ID)
		}
		_, err = m.DeleteSessionByID(ctx, s.ID, models.EventSessionRevoked, models.Audit{ActorID: u.ID})
		wantNotFound(t, err, "DeleteSessionByID twice")
		if evs := events(t, db, models.EventSessionRevoked); len(evs) != 1 {
			t.Fatalf("%d session.revoked events after a second delete, want 1", len(evs))
		}
	})
}
