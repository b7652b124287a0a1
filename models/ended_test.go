package models_test

import (
	"context"
	"testing"
	"time"

	"sessiond/models"
	"sessiond/models/testdb"
)

func TestEndedSessions_KeepWhyAndWho_ButNotSignOuts_AndForgetOldOnes(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		clock := testdb.NewClock()
		m := newManager(t, db, testPolicy, clock)
		users := insertUsers(t, db, "ended", 2)
		u, admin := users[0], users[1]
		byAdmin := models.Audit{ActorID: admin.ID}

		revoked, rs := createSession(t, m, u.ID, clock.Now().Add(time.Hour))
		if _, err := m.DeleteSessionByID(ctx, rs.ID, models.EventSessionRevoked, byAdmin); err != nil {
			t.Fatal(err)
		}
		mine, ms := createSession(t, m, u.ID, clock.Now().Add(time.Hour))
		if _, err := m.DeleteUserSession(ctx, u.ID, ms.ID, models.EventSessionRevoked, models.Audit{ActorID: u.ID}); err != nil {
			t.Fatal(err)
		}
		signedOut, _ := createSession(t, m, u.ID, clock.Now().Add(time.Hour))
		if _, err := m.DeleteSession(ctx, signedOut, models.Audit{ActorID: u.ID}); err != nil {
			t.Fatal(err)
		}
		all := []string{}
		for range 3 {
			tok, _ := createSession(t, m, u.ID, clock.Now().Add(time.Hour))
			all = append(all, tok)
		}
		if n, err := m.DeleteUserSessions(ctx, u.ID, byAdmin); err != nil || n != 3 {
			t.Fatalf("force logout = %d, %v", n, err)
		}

		for _, tc := range []struct {
			token, kind string
			byAdmin     bool
		}{
			{revoked, models.EventSessionRevoked, true},
			{mine, models.EventSessionRevoked, false},
			{all[0], models.EventUserForceLogout, true},
			{all[2], models.EventUserForceLogout, true},
		} {
			e, err := models.FindEnded(ctx, db, tc.token)
			if err != nil || e.Kind != tc.kind || e.ByAdmin != tc.byAdmin {
				t.Fatalf("FindEnded = %+v, %v; want %s by admin %v", e, err, tc.kind, tc.byAdmin)
			}
		}
		_, err := models.FindEnded(ctx, db, signedOut)
		wantNotFound(t, err, "FindEnded(signed out)")

		// A month later, the next revocation forgets the old reasons.
		clock.Advance(31 * 24 * time.Hour)
		_, late := createSession(t, m, u.ID, clock.Now().Add(time.Hour))
		if _, err := m.DeleteSessionByID(ctx, late.ID, models.EventSessionRevoked, byAdmin); err != nil {
			t.Fatal(err)
		}
		_, err = models.FindEnded(ctx, db, revoked)
		wantNotFound(t, err, "FindEnded(a month old)")
		if n := countRows(t, db, "SELECT COUNT(*) FROM ended_sessions"); n != 1 {
			t.Fatalf("%d reasons kept, want 1", n)
		}
	})
}
