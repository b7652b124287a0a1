package models_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"sessiond/models"
	"sessiond/models/testdb"
)

func TestSetUserGroups_NormalisedStoredAudited_CachedSessionsSeeThemAtOnce(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		u := testdb.CreateUser(t, db, "grp@example.com", models.RoleUser)
		m := newManager(t, db, testPolicy, nil)
		m.SetCache(models.NewSessionCache(time.Hour, 100))
		tok, _ := createSession(t, m, u.ID, time.Now().Add(time.Hour))
		groups := func() string {
			v, err := m.Authenticate(ctx, tok, theClient)
			if err != nil {
				t.Fatal(err)
			}
			return v.Session.User.GroupNames
		}
		if g := groups(); g != "" {
			t.Fatalf("a new user's groups: %q", g)
		}
		got, err := models.SetUserGroups(ctx, db, u.ID, []string{" Ops", "dev", "ops", ""}, models.Audit{ActorID: u.ID}, time.Now())
		if err != nil || got != "dev,ops" {
			t.Fatalf("set: %q %v", got, err)
		}
		if g := groups(); g != "dev,ops" { // the cached session was dropped
			t.Fatalf("after the change the session says %q", g)
		}
		if g := groups(); g != "dev,ops" { // and cached again with them
			t.Fatalf("from the cache: %q", g)
		}
		if evs := events(t, db, models.EventUserGroupsChanged); len(evs) != 1 || evs[0].Detail != "groups=dev,ops" {
			t.Fatalf("events: %+v", evs)
		}
		var ve *models.ValidationError
		for _, bad := range [][]string{{"ops team"}, {"a,b"}, {"-x"}, {"Ünï"}} {
			if _, err := models.SetUserGroups(ctx, db, u.ID, bad, models.Audit{}, time.Now()); !errors.As(err, &ve) || ve.Field != "groups" {
				t.Errorf("%q: %v, want a validation error on groups", bad, err)
			}
		}
		if _, err := models.SetUserGroups(ctx, db, u.ID+1000, []string{"x"}, models.Audit{}, time.Now()); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("unknown user: %v", err)
		}
		if got, err := models.SetUserGroups(ctx, db, u.ID, nil, models.Audit{}, time.Now()); err != nil || got != "" || groups() != "" {
			t.Fatalf("clearing: %q %v", got, err)
		}
	})
}
