package app

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sessiond/jobs"
	"sessiond/models"
	"sessiond/models/testdb"
)

// startServer runs a.srv.Run on a real listener and returns its base URL
// and a stop function that returns Run's result.
func startServer(t *testing.T, a *testApp) (string, func() error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.srv.Run(ctx, ln) }()
	var result error
	stopped := false
	stop := func() error {
		if !stopped {
			stopped = true
			cancel()
			select {
			case result = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("server did not stop")
			}
		}
		return result
	}
	t.Cleanup(func() { _ = stop() })
	return "http://" + ln.Addr().String(), stop
}

func TestAdminCleanup_RunNow_DeletesExpired_ReturnsFragmentToastAndTrigger(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, nil)
		admin := testdb.CreateUser(t, db, "cleanup-admin@example.com", models.RoleAdmin)
		user := testdb.CreateUser(t, db, "cleanup-user@example.com", models.RoleUser)
		testdb.SeedSessions(t, db, user.ID, 3, a.clock.Now().Add(-time.Minute))
		testdb.SeedSessions(t, db, user.ID, 2, a.clock.Now().Add(time.Hour))
		c := a.client()
		c.login(admin.Email, "password123")

		htmx := http.Header{"HX-Request": {"true"}}
		resp := c.request("GET", "/admin/cleanup", nil, htmx)
		body := readBody(t, resp)
		if resp.StatusCode != 200 || !strings.HasPrefix(strings.TrimSpace(body), `<section id="cleanup-runs"`) || !strings.Contains(body, "No cleanup has run yet") {
			t.Fatalf("fragment: %d %s", resp.StatusCode, body)
		}
		if strings.Contains(body, "<html") {
			t.Fatal("htmx got the full page")
		}
		resp = c.request("POST", "/admin/cleanup/run", nil, http.Header{"HX-Request": {"true"}, "X-Csrf-Token": {c.csrf}})
		body = readBody(t, resp)
		if resp.StatusCode != 200 || resp.Header.Get("HX-Trigger") != "sessions-changed" {
			t.Fatalf("run now: %d trigger=%q %s", resp.StatusCode, resp.Header.Get("HX-Trigger"), body)
		}
		for _, want := range []string{`<section id="cleanup-runs"`, "<td>admin</td>", "<td>3</td>", `id="toast" hx-swap-oob`, "Removed 3 expired sessions."} {
			if !strings.Contains(body, want) {
				t.Errorf("run-now response lacks %q:\n%s", want, body)
			}
		}
		if n := countRows(t, db, "sessions", "user_id = ?", user.ID); n != 2 {
			t.Fatalf("%d sessions of the user left, want the 2 live", n)
		}
		if n := countRows(t, db, "session_events", "kind = ? AND actor_id = ?", models.EventCleanupRun, admin.ID); n != 1 {
			t.Fatalf("%d cleanup events by the admin, want 1", n)
		}

		resp = c.api("GET", "/admin/cleanup", nil)
		var got struct {
			Runs []struct {
				Trigger    string `json:"trigger"`
				Deleted    int    `json:"deleted"`
				Error      string `json:"error"`
				DurationMS *int64 `json:"durationMs"`
			} `json:"runs"`
			Schedule string `json:"schedule"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if len(got.Runs) != 1 || got.Runs[0].Trigger != "admin" || got.Runs[0].Deleted != 3 || got.Runs[0].DurationMS == nil || got.Schedule != "@hourly" {
			t.Fatalf("json: %+v", got)
		}

		resp = c.api("POST", "/admin/cleanup/run", nil)
		if b := readBody(t, resp); resp.StatusCode != 200 || !strings.Contains(b, `"deleted":0`) {
			t.Fatalf("json run: %d %s", resp.StatusCode, b)
		}
		resp, body = c.page("/admin/cleanup")
		if resp.StatusCode != 200 || !strings.Contains(body, "<html") || !strings.Contains(body, `id="cleanup-runs"`) || !strings.Contains(body, "Cleanup runs") {
			t.Fatalf("page: %d", resp.StatusCode)
		}
		resp = c.form("/admin/cleanup/run", nil)
		if b := readBody(t, resp); resp.StatusCode != 200 || !strings.Contains(b, "Removed 0 expired sessions.") || !strings.Contains(b, "<html") {
			t.Fatalf("form post: %d %s", resp.StatusCode, b)
		}

	})
}

func TestCleanupJob_PanicIsRecovered_ServerKeepsServing_NextTickRuns(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, map[string]string{"CLEANUP_SCHEDULE": "@every 1s"})
		var ticks atomic.Int32
		a.srv.cleanup.Before = func(string) {
			if ticks.Add(1) == 1 {
				panic("cleanup exploded")
			}
		}
		user := testdb.CreateUser(t, db, "tick@example.com", models.RoleUser)
		testdb.SeedSessions(t, db, user.ID, 5, a.clock.Now().Add(-time.Minute))
		base, stop := startServer(t, a)
		deadline := time.Now().Add(15 * time.Second)
		for countRows(t, db, "cleanup_runs", "deleted = 5") == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("no cleanup after the panic (ticks=%d); logs:\n%s", ticks.Load(), a.logs)
			}
			resp, err := http.Get(base + "/healthz")
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("server stopped serving: %v", err)
			}
			resp.Body.Close()
			time.Sleep(100 * time.Millisecond)
		}
		if !strings.Contains(a.logs.String(), "cleanup exploded") {
			t.Errorf("panic not logged:\n%s", a.logs)
		}
		if err := stop(); err != nil {
			t.Fatalf("Run: %v", err)
		}
	})
}

func TestRun_ShutdownMidCleanup_StopsBetweenChunks_RecordsCancelled_ReturnsNil(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, map[string]string{"CLEANUP_SCHEDULE": "@every 1s", "CLEANUP_BATCH_SIZE": "10"})
		user := testdb.CreateUser(t, db, "sigterm@example.com", models.RoleUser)
		const seeded = 5000
		testdb.SeedSessions(t, db, user.ID, seeded, a.clock.Now().Add(-time.Minute))
		testdb.SeedSessions(t, db, user.ID, 7, a.clock.Now().Add(time.Hour))
		_, stop := startServer(t, a)
		// The first tick starts a cleanup of 500 chunks; SIGTERM (the
		// ctx of Run) arrives while it is in the middle.
		deadline := time.Now().Add(15 * time.Second)
		for countRows(t, db, "cleanup_runs", "") == 0 {
			if time.Now().After(deadline) {
				t.Fatal("cleanup never started")
			}
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(30 * time.Millisecond)
		if err := stop(); err != nil {
			t.Fatalf("Run returned %v, want nil after a clean drain", err)
		}
		var runs []models.CleanupRun
		if err := db.NewSelect().Model(&runs).Scan(context.Background()); err != nil {
			t.Fatal(err)
		}
		if len(runs) != 1 || runs[0].Error != models.CleanupCancelled || runs[0].FinishedAt == nil {
			t.Fatalf("runs = %+v, want one recorded as cancelled", runs)
		}
		left := countRows(t, db, "sessions", "expires_at <= ?", db.T(a.clock.Now()))
		if left == 0 || int(runs[0].Deleted)+left != seeded {
			t.Fatalf("deleted %d, %d expired left: want a partial run whose counts add up to %d", runs[0].Deleted, left, seeded)
		}
		if res, err := a.srv.cleanup.Run(context.Background(), models.TriggerSchedule, models.Audit{}); err != nil || res.Deleted != left {
			t.Fatalf("next run deleted %d (%v), want %d", res.Deleted, err, left)
		}
		if n := countRows(t, db, "sessions", ""); n != 7 {
			t.Fatalf("%d sessions left, want the 7 live", n)
		}
	})
}

// The real binary's path: Run("serve") with the signal context cancelled
// while the scheduled cleanup is in the middle. The job stops between
// chunks and records itself before the database closes; Run returns nil.
func TestRunServe_SIGTERMMidCleanup_DrainsRecordsCancelledAndReturnsNil(t *testing.T) {
	url := testdb.SQLiteURL(t)
	db := openURL(t, url)
	user := testdb.CreateUser(t, db, "serve-sigterm@example.com", models.RoleUser)
	const seeded = 5000
	testdb.SeedSessions(t, db, user.ID, seeded, time.Now().Add(-time.Minute))
	env := map[string]string{"DATABASE_URL": url, "LISTEN_ADDR": "127.0.0.1:0",
		"CLEANUP_SCHEDULE": "@every 1s", "CLEANUP_BATCH_SIZE": "10"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &testdb.SyncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, []string{"serve"}, Env{Stdout: logs, Stderr: logs, Getenv: func(k string) string { return env[k] }})
	}()
	deadline := time.Now().Add(15 * time.Second)
	for countRows(t, db, "cleanup_runs", "") == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no cleanup started; logs:\n%s", logs)
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(30 * time.Millisecond)
	cancel() // SIGTERM
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v, want nil; logs:\n%s", err, logs)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after SIGTERM")
	}
	var runs []models.CleanupRun
	if err := db.NewSelect().Model(&runs).Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	left := countRows(t, db, "sessions", "")
	if len(runs) != 1 || runs[0].Error != models.CleanupCancelled || runs[0].FinishedAt == nil || left == 0 || int(runs[0].Deleted)+left != seeded {
		t.Fatalf("runs = %+v, %d left; want one partial run recorded as cancelled; logs:\n%s", runs, left, logs)
	}
	if !strings.Contains(logs.String(), "cleanup stopped by shutdown") {
		t.Errorf("shutdown stop not logged:\n%s", logs)
	}
}

// An admin's cleanup that outlasts the request goes on in the background:
// the answer says so, the runs fragment shows its progress and polls, the
// tile counts with separators and a unit, a second click does not start a
// second run, and the poll that finds it ended refreshes the dashboard.
func TestAdminCleanup_LongRun_GoesOnInBackground_ProgressPolled_TileFormatted(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, map[string]string{"CLEANUP_BATCH_SIZE": "100"})
		admin := testdb.CreateUser(t, db, "long-cleanup@example.com", models.RoleAdmin)
		user := testdb.CreateUser(t, db, "long-cleanup-user@example.com", models.RoleUser)
		testdb.SeedSessions(t, db, user.ID, 1200, a.clock.Now().Add(-time.Minute))
		hold, held := make(chan struct{}), make(chan struct{}, 1)
		a.srv.cleanup.OnChunk = func(jobs.CleanupChunk) {
			select {
			case held <- struct{}{}:
				<-hold // the first chunk waits until the test lets it go
			default:
			}
		}
		c := a.client()
		c.login(admin.Email, "password123")
		htmx := http.Header{"HX-Request": {"true"}, "X-Csrf-Token": {c.csrf}, "Content-Type": {"application/x-www-form-urlencoded"}}

		resp := c.request("POST", "/admin/sessions", strings.NewReader("action=cleanup"), htmx)
		body := readBody(t, resp)
		if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("HX-Trigger"), "sessions-changed") ||
			!strings.Contains(body, "runs in the background") {
			t.Fatalf("start: %d %q %s", resp.StatusCode, resp.Header.Get("HX-Trigger"), body)
		}
		resp = c.request("GET", "/admin/cleanup", nil, htmx)
		body = readBody(t, resp)
		for _, want := range []string{`hx-get="/admin/cleanup?watch=1"`, "every 1s", "<progress", "100 of 1,200", admin.Email} {
			if !strings.Contains(body, want) {
				t.Errorf("runs fragment while running lacks %q:\n%s", want, body)
			}
		}
		if _, body = c.page("/admin/sessions"); !strings.Contains(body, "100 of 1,200 sessions") {
			t.Errorf("the tile does not show the run's progress:\n%s", body)
		}
		if got := countRows(t, db, "cleanup_runs", "actor_id = ? AND trigger = ? AND expected = 1200", admin.ID, models.TriggerAdmin); got != 1 {
			t.Fatalf("%d runs recorded with the admin as actor, want 1", got)
		}
		resp = c.api("POST", "/admin/cleanup/run", nil)
		if b := readBody(t, resp); resp.StatusCode != 200 || !strings.Contains(b, `"skipped":true`) {
			t.Fatalf("a second run while one goes: %d %s", resp.StatusCode, b)
		}

		close(hold)
		deadline := time.Now().Add(30 * time.Second)
		for {
			resp = c.request("GET", "/admin/cleanup?watch=1", nil, htmx)
			body = readBody(t, resp)
			if !strings.Contains(body, "every 1s") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the run never ended:\n%s", body)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if resp.Header.Get("HX-Trigger") != "sessions-changed" || !strings.Contains(body, "<td>1,200</td>") {
			t.Fatalf("the poll that saw the end: trigger %q\n%s", resp.Header.Get("HX-Trigger"), body)
		}
		if _, body = c.page("/admin/sessions"); !strings.Contains(body, `id="stat-cleanup">1,200 sessions<`) {
			t.Errorf("the tile after the run is not formatted:\n%s", body)
		}
		if n := countRows(t, db, "cleanup_runs", ""); n != 1 {
			t.Fatalf("%d runs, want the one", n)
		}
	})
}

// A script's cleanup that outlasts cleanupWaitJSON gets 202 and the run
// to follow; GET /admin/cleanup says when it ends and what it deleted.
func TestAdminCleanup_JSONOutlastingTheWait_202ThenFollowedToTheEnd(t *testing.T) {
	db := testdb.SQLite(t) // the waiting is the same on both databases
	f := newFixture(t, db, map[string]string{"CLEANUP_BATCH_SIZE": "10"})
	testdb.SeedSessions(t, db, f.user.ID, 30, f.a.clock.Now().Add(-time.Minute))
	hold := make(chan struct{})
	var once sync.Once
	f.a.srv.cleanup.OnChunk = func(jobs.CleanupChunk) { once.Do(func() { <-hold }) }
	c := f.clients["admin"]
	resp := c.api("POST", "/admin/sessions", url.Values{"action": {"cleanup"}})
	var started struct {
		RunID   int64 `json:"runId"`
		Running bool  `json:"running"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&started); err != nil || resp.StatusCode != http.StatusAccepted || !started.Running || started.RunID == 0 {
		t.Fatalf("start: %d %+v %v", resp.StatusCode, started, err)
	}
	resp.Body.Close()
	close(hold)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var v struct {
			Running bool `json:"running"`
			Runs    []struct {
				ID       int64  `json:"id"`
				Deleted  int    `json:"deleted"`
				Expected int    `json:"expected"`
				ActorID  *int64 `json:"actorId"`
			} `json:"runs"`
		}
		resp := c.api("GET", "/admin/cleanup", nil)
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if !v.Running {
			if r := v.Runs[0]; r.ID != started.RunID || r.Deleted != 30 || r.Expected != 30 || r.ActorID == nil || *r.ActorID != f.admin.ID {
				t.Fatalf("the run as it ended: %+v", r)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the run never ended")
		}
	}
}
