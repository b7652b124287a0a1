package app

import (
	"bufio"
	"context"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"sessiond/models"
	"sessiond/models/testdb"
)

// TestCleanup_KilledMidRun_ProgressRecorded_NextStartMarksItAbandoned_NextRunFinishes:
// `sessions cleanup` killed with SIGKILL between chunks leaves a run row
// that counts what its committed chunks deleted; the next server start
// records it as abandoned (finished at its last chunk), and the next run
// deletes the rest, with no live session lost.
func TestCleanup_KilledMidRun_ProgressRecorded_NextStartMarksItAbandoned_NextRunFinishes(t *testing.T) {
	testdb.EachURL(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		db := testdb.Open(t, dsn)
		u := testdb.CreateUser(t, db, "kept@example.com", models.RoleUser)
		const expired = 5000
		testdb.SeedSessions(t, db, u.ID, expired, time.Now().Add(-time.Hour))
		testdb.SeedSessions(t, db, u.ID, 5, time.Now().Add(24*time.Hour)) // live

		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "SESSIOND_SERVE_HELPER=1", "SESSIOND_HELPER_ARGS=sessions cleanup --verbose",
			"DATABASE_URL="+dsn, "CLEANUP_BATCH_SIZE=100", "LOG_LEVEL=warn")
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		chunks := 0
		lines := bufio.NewScanner(out)
		for chunks < 3 && lines.Scan() {
			if strings.Contains(lines.Text(), "chunk") {
				chunks++
			}
		}
		_ = cmd.Process.Kill() // SIGKILL: no chance to record anything
		_ = cmd.Wait()
		if chunks < 3 {
			t.Fatalf("the cleanup printed %d chunks before it ended", chunks)
		}

		runs, err := models.ListCleanupRuns(ctx, db, 5)
		if err != nil || len(runs) != 1 {
			t.Fatalf("runs %+v %v", runs, err)
		}
		killed := runs[0]
		left, err := models.CountExpired(ctx, db, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("killed after %d chunks: row says deleted %d, %d of %d expired left", chunks, killed.Deleted, left, expired)
		if killed.FinishedAt != nil || killed.Deleted == 0 || int(killed.Deleted) != expired-left {
			t.Fatalf("killed run: finished %v, deleted %d, but %d rows went", killed.FinishedAt, killed.Deleted, expired-left)
		}

		// The next start, ten minutes on (SQLite has no lock to tell a
		// dead run from one in another process, so it waits that long;
		// PostgreSQL releases the dead process's lock when it notices
		// the connection closed, a moment after the kill).
		waitCleanupLockFree(t, db)
		a := newTestApp(t, db, map[string]string{"CLEANUP_SCHEDULE": "off"})
		a.clock.Advance(11 * time.Minute)
		base, _ := startServer(t, a)
		if resp, err := http.Get(base + "/healthz"); err != nil { // served once the start's checks are done
			t.Fatal(err)
		} else {
			resp.Body.Close()
		}
		runs, _ = models.ListCleanupRuns(ctx, db, 5)
		if r := runs[0]; r.Error != models.CleanupAbandoned || r.FinishedAt == nil || r.ProgressAt == nil ||
			!r.FinishedAt.Equal(*r.ProgressAt) || r.Deleted != killed.Deleted {
			t.Fatalf("after the next start: %+v, want it marked abandoned at its last chunk", r)
		}
		if res, err := a.srv.cleanup.Run(ctx, models.TriggerAdmin, models.Audit{}); err != nil || res.Deleted != left {
			t.Fatalf("next run deleted %d (%v), want %d", res.Deleted, err, left)
		}
		if n := countRows(t, db, "sessions", ""); n != 5 {
			t.Fatalf("%d sessions left, want the 5 live ones", n)
		}
	})
}

// waitCleanupLockFree waits until no process holds the PostgreSQL cleanup
// lock of db's schema (nothing to wait for on SQLite).
func waitCleanupLockFree(t *testing.T, db *models.DB) {
	t.Helper()
	if db.Kind != models.Postgres {
		return
	}
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var held bool
		err := db.QueryRowContext(context.Background(), `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory'
			AND ((classid::bigint << 32) | objid::bigint) = hashtextextended(current_schema(), ?))`, models.CleanupLockKey).Scan(&held)
		if err != nil {
			t.Fatal(err)
		}
		if !held {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the killed process still holds the cleanup lock")
		}
	}
}
