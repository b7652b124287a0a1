package app

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sessiond/models"
	"sessiond/models/testdb"
)

func openURL(t *testing.T, url string) *models.DB {
	t.Helper()
	db, err := models.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := models.Migrate(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	return db
}

func TestCLI_SessionsCleanup_DryRunCountsWhatTheRealRunDeletes_VerbosePrintsChunks(t *testing.T) {
	for name, url := range map[string]func(testing.TB) string{"sqlite": testdb.SQLiteURL, "postgres": testdb.PostgresURL} {
		t.Run(name, func(t *testing.T) {
			env := map[string]string{"DATABASE_URL": url(t), "CLEANUP_BATCH_SIZE": "7"}
			db := openURL(t, env["DATABASE_URL"])
			u := testdb.CreateUser(t, db, "cli-cleanup@example.com", models.RoleUser)
			testdb.SeedSessions(t, db, u.ID, 40, time.Now().Add(-time.Hour))
			testdb.SeedSessions(t, db, u.ID, 2, time.Now().Add(-time.Second))
			testdb.SeedSessions(t, db, u.ID, 9, time.Now().Add(time.Hour))
			testdb.SeedSessions(t, db, u.ID, 1, time.Now().Add(72*time.Hour))

			out, err := runCLI(t, env, "", "sessions", "cleanup", "--dry-run")
			if err != nil || !strings.Contains(out, "before: total 52, active 10, expired 42, expiring within 24h 9") ||
				!strings.Contains(out, "would delete 42 expired session(s)") {
				t.Fatalf("dry run: %v\n%s", err, out)
			}
			if n := countRows(t, db, "sessions", ""); n != 52 {
				t.Fatalf("dry run deleted: %d rows left", n)
			}
			out, err = runCLI(t, env, "", "sessions", "cleanup", "--verbose")
			if err != nil {
				t.Fatalf("cleanup: %v\n%s", err, out)
			}
			for _, want := range []string{"chunk 1: sessions 7 rows (limit 7) in ", " ms, then rest ", "chunk 6: sessions 7 rows", "deleted 42 expired session(s)", "after:  total 10, active 10, expired 0, expiring within 24h 9"} {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
			runs, err := models.ListCleanupRuns(context.Background(), db, 5)
			if err != nil || len(runs) != 1 || runs[0].Trigger != "cli" || runs[0].Deleted != 42 {
				t.Fatalf("runs: %+v %v", runs, err)
			}
			for _, args := range [][]string{{"sessions"}, {"sessions", "purge"}, {"sessions", "cleanup", "--force"}, {"sessions", "cleanup", "extra"}} {
				if _, err := runCLI(t, env, "", args...); err == nil {
					t.Errorf("%v: accepted", args)
				}
			}
		})
	}
}

// cancelWriter cancels a context once it has seen n chunk lines.
type cancelWriter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	chunks int
	n      int
	cancel context.CancelFunc
}

func (w *cancelWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.chunks += strings.Count(string(p), "  chunk "); w.chunks >= w.n {
		w.cancel()
	}
	return w.buf.Write(p)
}

func TestCLI_SessionsCleanup_CtrlC_StopsBetweenChunks_ReportsAndFails(t *testing.T) {
	url := testdb.SQLiteURL(t)
	db := openURL(t, url)
	u := testdb.CreateUser(t, db, "ctrlc@example.com", models.RoleUser)
	testdb.SeedSessions(t, db, u.ID, 100, time.Now().Add(-time.Hour))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := &cancelWriter{n: 2, cancel: cancel}
	env := map[string]string{"DATABASE_URL": url, "CLEANUP_BATCH_SIZE": "7"}
	err := Run(ctx, []string{"sessions", "cleanup", "--verbose"}, Env{Stdout: w, Stderr: w, Getenv: func(k string) string { return env[k] }})
	out := w.buf.String()
	if err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("err = %v, want interrupted\n%s", err, out)
	}
	if !strings.Contains(out, "deleted 14 expired session(s)") || !strings.Contains(out, "interrupted: stopped between chunks") ||
		!strings.Contains(out, "after:  total 86, active 0, expired 86") {
		t.Fatalf("output:\n%s", out)
	}
	if n := countRows(t, db, "sessions", ""); n != 86 {
		t.Fatalf("%d rows left, want 86", n)
	}
	runs, _ := models.ListCleanupRuns(context.Background(), db, 5)
	if len(runs) != 1 || runs[0].Error != models.CleanupCancelled || runs[0].Deleted != 14 {
		t.Fatalf("run: %+v", runs)
	}
}

func TestCLI_SessionsCleanup_WhileTheServerWritesToTheSameSQLiteFile(t *testing.T) {
	url := testdb.SQLiteURL(t)
	db := openURL(t, url)
	a := newTestApp(t, db, nil)
	u := testdb.CreateUser(t, db, "busy@example.com", models.RoleUser)
	testdb.SeedSessions(t, db, u.ID, 3000, time.Now().Add(-time.Hour))

	// The server keeps creating sessions through its own writer while the
	// CLI, another process's worth of connections, cleans up.
	stop := make(chan struct{})
	var created atomic.Int64
	var writeErr atomic.Value
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			tok, _ := models.NewToken()
			if _, err := a.srv.Sessions().CreateSession(context.Background(), tok, u.ID, a.clock.Now().Add(time.Hour), models.Client{}); err != nil {
				writeErr.Store(err)
				return
			}
			created.Add(1)
			time.Sleep(time.Millisecond) // a busy server, not a spin loop no real one runs
		}
	}()
	env := map[string]string{"DATABASE_URL": url, "CLEANUP_BATCH_SIZE": "100"}
	out, err := runCLI(t, env, "", "sessions", "cleanup")
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("cleanup beside the server: %v\n%s", err, out)
	}
	if e := writeErr.Load(); e != nil {
		t.Fatalf("server write failed during cleanup: %v", e)
	}
	if !strings.Contains(out, "deleted 3000 expired session(s)") {
		t.Fatalf("output:\n%s", out)
	}
	if n := countRows(t, db, "sessions", ""); int64(n) != created.Load() {
		t.Fatalf("%d rows, want the %d the server created", n, created.Load())
	}
	if created.Load() == 0 {
		t.Fatal("the server wrote nothing during the cleanup")
	}
}
