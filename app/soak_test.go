//go:build !race

// The soak measures SQLite contention, not data races: under the race
// detector argon2id runs ~4× slower and 50 queued sign-ins outwait the
// hashing limiter by design, so .ci/run runs it in the plain test pass.

package app

import (
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sessiond/models"
	"sessiond/models/testdb"
)

// TestSoak_SQLite30s_ParallelSignInsRequestsDeletesCleanup_NoFiveHundredNoLocked
// runs 50 parallel sign-ins, 200 parallel authenticated requests, deletes
// and cleanup for 30 s (SESSIOND_SOAK sets another duration) against a real
// listener on one SQLite file.
func TestSoak_SQLite30s_ParallelSignInsRequestsDeletesCleanup_NoFiveHundredNoLocked(t *testing.T) {
	if testing.Short() {
		t.Skip("soak skipped in -short mode")
	}
	dur := 30 * time.Second
	if d, err := time.ParseDuration(os.Getenv("SESSIOND_SOAK")); err == nil {
		dur = d
	}
	db := testdb.SQLite(t)
	a, base := liveServer(t, db, map[string]string{"LOG_LEVEL": "warn", "SESSION_UPDATE_AGE": "0", "SESSION_TOUCH_INTERVAL": "0", "SESSION_CACHE_TTL": "0"})
	const users = 20
	for i := 0; i < users; i++ {
		testdb.CreateUser(t, db, testdb.Name("soak", i), models.RoleUser)
	}
	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	tr := &http.Transport{MaxIdleConnsPerHost: 300}
	defer tr.CloseIdleConnections()
	var ok, fivexx, other, signins, deleted, cleaned atomic.Int64
	record := func(status int) {
		switch {
		case status >= 500:
			fivexx.Add(1)
		case status < 400 || status == 401:
			ok.Add(1)
		default:
			other.Add(1)
		}
	}
	newClient := func() *http.Client {
		jar, _ := cookiejar.New(nil)
		return &http.Client{Transport: tr, Jar: jar, Timeout: 30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	signIn := func(hc *http.Client, i int) bool {
		resp, err := hc.Get(base + "/login")
		if err != nil {
			return false
		}
		body := make([]byte, 8192)
		n, _ := resp.Body.Read(body)
		resp.Body.Close()
		m := csrfMeta.FindSubmatch(body[:n])
		if m == nil {
			return false
		}
		form := url.Values{"email": {testdb.Name("soak", i%users)}, "password": {"password123"}, "_csrf": {string(m[1])}}
		resp, err = hc.PostForm(base+"/login", form)
		if err != nil {
			return false
		}
		resp.Body.Close()
		record(resp.StatusCode)
		signins.Add(1)
		return resp.StatusCode == http.StatusSeeOther
	}

	var wg sync.WaitGroup
	// 50 goroutines signing in over and over.
	for g := 0; g < 50; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := g; ctx.Err() == nil; i += 50 {
				signIn(newClient(), i)
			}
		}(g)
	}
	// 200 goroutines making authenticated requests with a session each.
	for g := 0; g < 200; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			hc := newClient()
			for ctx.Err() == nil && !signIn(hc, g) {
			}
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/me", nil)
				req.Header.Set("Accept", "application/json")
				resp, err := hc.Do(req)
				if err != nil {
					continue
				}
				resp.Body.Close()
				record(resp.StatusCode)
				if resp.StatusCode == http.StatusUnauthorized {
					signIn(hc, g) // deleted under us: sign in again
				}
			}
		}(g)
	}
	// Deletes: revoke random sessions and whole users' sessions.
	wg.Add(1)
	go func() {
		defer wg.Done()
		m := a.srv.Sessions()
		for i := 0; ctx.Err() == nil; i++ {
			var ids []int64
			_ = db.Read.NewSelect().Model((*models.Session)(nil)).Column("id").Order("id").Limit(3).Scan(context.Background(), &ids)
			for _, id := range ids {
				if _, err := m.DeleteSessionByID(context.Background(), id, models.EventSessionRevoked, models.Audit{}); err == nil {
					deleted.Add(1)
				}
			}
			if i%10 == 0 {
				n, _ := m.DeleteUserSessions(context.Background(), int64(i%users+1), models.Audit{})
				deleted.Add(int64(n))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	// Cleanup: expire some sessions and delete them in chunks.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			past := a.clock.Now().Add(-time.Hour)
			_, _ = db.NewUpdate().Model((*models.Session)(nil)).Set("expires_at = ?", db.T(past)).
				Where("id IN (SELECT id FROM sessions ORDER BY id LIMIT 5)").Exec(context.Background())
			n, err := models.DeleteExpiredBatch(context.Background(), db, a.clock.Now(), 100)
			if err == nil {
				cleaned.Add(int64(n))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}()
	wg.Wait()

	logs := a.logs.String()
	t.Logf("soak %v: ok=%d 5xx=%d other4xx=%d signins=%d deleted=%d cleaned=%d", dur, ok.Load(), fivexx.Load(), other.Load(), signins.Load(), deleted.Load(), cleaned.Load())
	if fivexx.Load() != 0 {
		t.Errorf("%d responses were 5xx; logs:\n%s", fivexx.Load(), tail(logs, 3000))
	}
	if strings.Contains(logs, "database is locked") || strings.Contains(logs, "SQLITE_BUSY") {
		t.Errorf("database is locked in the logs:\n%s", tail(logs, 3000))
	}
	if ok.Load() < 1000 || signins.Load() < 50 || deleted.Load() == 0 || cleaned.Load() == 0 {
		t.Errorf("soak did too little to prove anything")
	}
	var check string
	if err := db.QueryRowContext(context.Background(), "PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check: %q %v", check, err)
	}
	var orphans int
	_ = db.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM sessions WHERE user_id NOT IN (SELECT id FROM users)").Scan(&orphans)
	if orphans != 0 {
		t.Fatalf("%d orphan sessions", orphans)
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return fmt.Sprintf("…%s", s[len(s)-n:])
}
