package models_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"sessiond/jobs"
	"sessiond/models"
	"sessiond/models/testdb"
)

// TestExpiry_NonUTCProcessAndConnectionZones_MinuteEitherSideIsRight runs
// with the process in Asia/Kathmandu (+05:45) and, on PostgreSQL, the
// connection's TimeZone in America/New_York, creating sessions with expiry
// times in several zones: whatever the zones, an instant one minute past is
// expired and one minute ahead is live.
func TestExpiry_NonUTCProcessAndConnectionZones_MinuteEitherSideIsRight(t *testing.T) {
	kathmandu, err := time.LoadLocation("Asia/Kathmandu")
	if err != nil {
		t.Skipf("no tz database: %v", err)
	}
	newYork, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skipf("no tz database: %v", err)
	}
	saved := time.Local
	time.Local = kathmandu
	t.Cleanup(func() { time.Local = saved }) // registered first, so it runs after the DBs close

	t.Run("sqlite", func(t *testing.T) {
		checkExpiryAcrossZones(t, testdb.SQLite(t), newYork)
	})
	t.Run("postgres", func(t *testing.T) {
		ctx := context.Background()
		db := openURL(t, testdb.PostgresURL(t)+"&timezone=America/New_York")
		if _, err := models.Migrate(ctx, db); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		var tz string
		if err := db.QueryRowContext(ctx, "SHOW TimeZone").Scan(&tz); err != nil || tz != "America/New_York" {
			t.Fatalf("connection TimeZone = %q, %v; want America/New_York", tz, err)
		}
		checkExpiryAcrossZones(t, db, newYork)
	})
}

func checkExpiryAcrossZones(t *testing.T, db *models.DB, newYork *time.Location) {
	ctx := context.Background()
	if time.Now().Location().String() != "Asia/Kathmandu" {
		t.Fatalf("time.Local is %v", time.Now().Location())
	}
	// The manager's clock reports New York time; the DB must still compare instants.
	m := newManager(t, db, testPolicy, nil)
	mNY, err := models.NewSessionManager(ctx, db, testPolicy, func() time.Time { return time.Now().In(newYork) })
	if err != nil {
		t.Fatal(err)
	}
	mNY.Cleaner = &jobs.Cleanup{DB: db, Now: mNY.Now, BatchSize: 10000}
	defer mNY.Close()
	u := testdb.CreateUser(t, db, "tz@example.com", models.RoleUser)

	type sess struct {
		name  string
		live  bool
		token string
		id    int64
	}
	var all []*sess
	add := func(name string, expires time.Time, live bool) {
		tok, s := createSession(t, m, u.ID, expires)
		if !s.ExpiresAt.Equal(expires) {
			t.Fatalf("%s: returned expiry %v, want %v", name, s.ExpiresAt, expires)
		}
		all = append(all, &sess{name, live, tok, s.ID})
	}
	now := time.Now() // in Kathmandu
	add("local -1m", now.Add(-time.Minute), false)
	add("local +1m", now.Add(time.Minute), true)
	add("New York -1m", now.In(newYork).Add(-time.Minute), false)
	add("New York +1m", now.In(newYork).Add(time.Minute), true)
	add("UTC -1m", now.UTC().Add(-time.Minute), false)
	add("UTC +1m", now.UTC().Add(time.Minute), true)

	var wantLive, wantExpired []int64
	for _, s := range all {
		row, ok := sessionRow(t, db, s.id)
		if !ok {
			t.Fatalf("%s: row missing", s.name)
		}
		for _, mgr := range []*models.SessionManager{m, mNY} {
			_, err := mgr.Authenticate(ctx, s.token, theClient)
			switch {
			case s.live && err != nil:
				t.Errorf("%s (stored %v): Validate refused a live session: %v", s.name, row.ExpiresAt, err)
			case !s.live && !errors.Is(err, models.ErrNotFound):
				t.Errorf("%s (stored %v): Validate accepted an expired session: %v", s.name, row.ExpiresAt, err)
			}
		}
		if s.live {
			wantLive = append(wantLive, s.id)
		} else {
			wantExpired = append(wantExpired, s.id)
		}
	}

	for _, mgr := range []*models.SessionManager{m, mNY} {
		active, err := mgr.GetUserActiveSessions(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		got := sessionIDs(active)
		slices.Sort(got)
		if !reflect.DeepEqual(got, wantLive) {
			t.Fatalf("GetUserActiveSessions = %v, want %v", got, wantLive)
		}
		if n, err := mgr.GetUserSessionCount(ctx, u.ID); err != nil || n != len(wantLive) {
			t.Fatalf("GetUserSessionCount = %d, %v; want %d", n, err, len(wantLive))
		}
	}
	if db.Kind == models.Postgres {
		// The server's own clock agrees with Go's.
		if n := countRows(t, db, "SELECT COUNT(*) FROM sessions WHERE expires_at > now()"); n != len(wantLive) {
			t.Fatalf("PostgreSQL counts %d live sessions by now(), want %d", n, len(wantLive))
		}
	}

	n, err := mNY.CleanupExpiredSessions(ctx)
	if err != nil || n != len(wantExpired) {
		t.Fatalf("CleanupExpiredSessions = %d, %v; want %d", n, err, len(wantExpired))
	}
	for _, s := range all {
		if _, ok := sessionRow(t, db, s.id); ok != s.live {
			t.Errorf("%s: present after cleanup = %v, want %v", s.name, ok, s.live)
		}
	}
}
