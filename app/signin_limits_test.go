package app

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sessiond/models"
	"sessiond/models/testdb"
)

func TestThrottle_PerAccount_429WithRetryAfter_SameMessage_ResetsOnSuccess(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, nil)
		u := testdb.CreateUser(t, db, "throttle@example.com", models.RoleUser)
		c := a.client()
		c.page("/login")
		for i := 0; i < 10; i++ {
			resp := c.form("/login", url.Values{"email": {u.Email}, "password": {"wrong-password"}})
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("attempt %d: %d", i, resp.StatusCode)
			}
		}
		resp := c.form("/login", url.Values{"email": {u.Email}, "password": {"password123"}})
		body := readBody(t, resp)
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("after 10 failures: %d Retry-After=%q", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
		// An unknown account at the same limit reads the same.
		for i := 0; i < 10; i++ {
			c.form("/login", url.Values{"email": {"ghost@example.com"}, "password": {"x-wrong-pw"}}).Body.Close()
		}
		ghost := c.form("/login", url.Values{"email": {"ghost@example.com"}, "password": {"x-wrong-pw"}})
		if gb := readBody(t, ghost); ghost.StatusCode != 429 || alertText(gb) != alertText(body) {
			t.Fatalf("unknown account throttled differently: %d %q vs %q", ghost.StatusCode, alertText(gb), alertText(body))
		}
		// The lock is short: after the window the right password works and resets the count.
		a.clock.Advance(15*time.Minute + time.Second)
		resp = c.form("/login", url.Values{"email": {u.Email}, "password": {"password123"}})
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("after the window: %d", resp.StatusCode)
		}
		if n := loginCount(t, db, models.ScopeAccount, u.Email); n != 0 {
			t.Fatalf("success did not reset the account counter: %d", n)
		}
	})
}

func TestThrottle_PerIP_SpoofedForwardedForDoesNotReset_UnlessProxyTrusted(t *testing.T) {
	db := testdb.SQLite(t)
	a := newTestApp(t, db, nil)
	c := a.client()
	c.page("/login")
	for i := 0; i < 100; i++ {
		v := url.Values{"email": {testdb.Name("spray", i)}, "password": {"wrong-password"}, "_csrf": {c.csrf}}
		h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "X-Forwarded-For": {testIP(i)}}
		c.request("POST", "/login", strings.NewReader(v.Encode()), h).Body.Close()
	}
	v := url.Values{"email": {"fresh@example.com"}, "password": {"wrong-password"}, "_csrf": {c.csrf}}
	h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "X-Forwarded-For": {"203.0.113.250"}}
	resp := c.request("POST", "/login", strings.NewReader(v.Encode()), h)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("per-IP limit bypassed with a spoofed X-Forwarded-For: %d", resp.StatusCode)
	}

	trusted := newTestApp(t, db, map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.1"})
	if ip := trusted.srv.clientIPFrom("192.0.2.1", "203.0.113.9, 198.51.100.7, 10.0.0.1"); ip != "198.51.100.7" {
		t.Fatalf("trusted proxy: client ip %q", ip)
	}
	if ip := a.srv.clientIPFrom("192.0.2.1", "198.51.100.7"); ip != "192.0.2.1" {
		t.Fatalf("untrusted peer's X-Forwarded-For believed: %q", ip)
	}
}

func TestSignIn_OverlongPassword_RefusedBeforeHashing(t *testing.T) {
	db := testdb.SQLite(t)
	a := newTestApp(t, db, nil)
	testdb.CreateUser(t, db, "long@example.com", models.RoleUser)
	c := a.client()
	c.page("/login")
	resp := c.form("/login", url.Values{"email": {"long@example.com"}, "password": {strings.Repeat("p", models.MaxPasswordBytes+1)}})
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("1025-byte password: %d", resp.StatusCode)
	}
	// Through a real listener: fasthttp refuses the body before any handler.
	_, base := liveServer(t, db, nil)
	big := url.Values{"email": {"long@example.com"}, "password": {strings.Repeat("p", 1<<20)}}
	start := time.Now()
	bigResp, err := http.Post(base+"/login", "application/x-www-form-urlencoded", strings.NewReader(big.Encode()))
	if err == nil {
		bigResp.Body.Close()
		if bigResp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("1 MB body: %d", bigResp.StatusCode)
		}
	}
	t.Logf("1 MB body refused in %v (err=%v)", time.Since(start), err)
	long := strings.Repeat("x", 64)
	u, err := models.CreateUser(t.Context(), db, models.NewUser{Email: "sixtyfour@example.com", Name: "Long", Password: long}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c.login(u.Email, long)
}

func TestSignIn_200Parallel_HashingStaysWithinItsBound(t *testing.T) {
	db := testdb.SQLite(t)
	a := newTestApp(t, db, nil)
	testdb.CreateUser(t, db, "crowd@example.com", models.RoleUser)
	c := a.client()
	c.page("/login")
	var peak atomic.Int64
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
				if n := int64(len(a.srv.hashers.slots)); n > peak.Load() {
					peak.Store(n)
				}
				time.Sleep(100 * time.Microsecond)
			}
		}
	}()
	var wg sync.WaitGroup
	var fivexx atomic.Int64
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			v := url.Values{"email": {testdb.Name("crowd", i)}, "password": {"wrong-password"}, "_csrf": {c.csrf}}
			h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
			req, _ := http.NewRequest("POST", testBase+"/login", strings.NewReader(v.Encode()))
			req.Header = h
			for _, ck := range c.jar.Cookies(mustURL(testBase)) {
				req.AddCookie(ck)
			}
			resp, err := a.srv.Handler().Test(req, -1)
			if err != nil || resp.StatusCode >= 500 && resp.StatusCode != http.StatusServiceUnavailable {
				fivexx.Add(1)
			}
		}(i)
	}
	wg.Wait()
	close(stop)
	if p := peak.Load(); p > int64(cap(a.srv.hashers.slots)) || p == 0 {
		t.Fatalf("peak concurrent hashes %d (bound %d)", p, cap(a.srv.hashers.slots))
	}
	if fivexx.Load() > 0 {
		t.Fatalf("%d requests failed with 5xx", fivexx.Load())
	}
}

// TestThrottle_200ConcurrentGuesses_AtMostTheLimitAreJudged: guesses that
// arrive all at once are counted before any is hashed, so however many
// come, ten reach the password check and the rest get 429.
func TestThrottle_200ConcurrentGuesses_AtMostTheLimitAreJudged(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, map[string]string{"LOG_LEVEL": "warn"})
		u := testdb.CreateUser(t, db, "target@example.com", models.RoleUser)
		c := a.client()
		c.page("/login")
		statuses := parallelSignIns(t, a, c, 200, func(i int) (string, string) {
			return u.Email, fmt.Sprintf("guess-%03d", i)
		})
		judged := statuses[http.StatusUnauthorized]
		t.Logf("200 concurrent guesses: %v; judged %d", statuses, judged)
		if judged > 10 || judged == 0 {
			t.Fatalf("%d guesses reached the password check (statuses %v), want 1..10", judged, statuses)
		}
		// The rest were refused (429), or shed (503) when the machine was
		// too busy to check even ten in time.
		if statuses[http.StatusTooManyRequests]+statuses[http.StatusServiceUnavailable]+judged != 200 ||
			statuses[http.StatusTooManyRequests] < 190-statuses[http.StatusServiceUnavailable] {
			t.Fatalf("unexpected answers: %v", statuses)
		}
		// Ten failures lock the account, for the right password too.
		resp := c.form("/login", url.Values{"email": {u.Email}, "password": {"password123"}})
		resp.Body.Close()
		if judged == 10 && resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("after ten failures the right password got %d, want 429", resp.StatusCode)
		}
		// The audit trail agrees: one signin.failed event per judged failure.
		if n := countRows(t, db, "session_events", "kind = ? AND user_id = ?", models.EventSignInFailed, u.ID); n != statuses[http.StatusUnauthorized] {
			t.Fatalf("%d signin.failed events for %d answers 401", n, statuses[http.StatusUnauthorized])
		}
	})
}

// TestThrottle_TwoInstancesShareCounts_SurviveARestart_SuccessClearsEverywhere:
// two servers on one database (PostgreSQL, or one SQLite file) count
// together, a new process still knows the counts, and a success on one
// clears the account on the other.
func TestThrottle_TwoInstancesShareCounts_SurviveARestart_SuccessClearsEverywhere(t *testing.T) {
	testdb.EachURL(t, func(t *testing.T, dsn string) {
		dbA := testdb.Open(t, dsn)
		u := testdb.CreateUser(t, dbA, "shared@example.com", models.RoleUser)
		a := newTestApp(t, dbA, nil)
		b := newTestApp(t, testdb.Open(t, dsn), nil)
		ca, cb := a.client(), b.client()
		ca.page("/login")
		cb.page("/login")
		try := func(c *client, password string) int {
			resp := c.form("/login", url.Values{"email": {u.Email}, "password": {password}})
			resp.Body.Close()
			return resp.StatusCode
		}
		for i := 0; i < 5; i++ {
			if sa, sb := try(ca, "wrong-password"), try(cb, "wrong-password"); sa != 401 || sb != 401 {
				t.Fatalf("failure %d: A %d, B %d", i, sa, sb)
			}
		}
		if sa, sb := try(ca, "password123"), try(cb, "password123"); sa != 429 || sb != 429 {
			t.Fatalf("after 5 failures on each: A %d, B %d, want 429 on both", sa, sb)
		}
		// A process started afterwards (a restart) knows the counts.
		restarted := newTestApp(t, testdb.Open(t, dsn), nil)
		cr := restarted.client()
		cr.page("/login")
		if s := try(cr, "password123"); s != 429 {
			t.Fatalf("after a restart: %d, want 429", s)
		}
		// After the window, failures on A, then a success on B: A's
		// count for the account is gone too.
		for _, app := range []*testApp{a, b, restarted} {
			app.clock.Advance(models.LoginWindow + time.Second)
		}
		for i := 0; i < 9; i++ {
			if s := try(ca, "wrong-password"); s != 401 {
				t.Fatalf("new window, failure %d on A: %d", i, s)
			}
		}
		if s := try(cb, "password123"); s != http.StatusSeeOther {
			t.Fatalf("success on B: %d", s)
		}
		if n := loginCount(t, dbA, models.ScopeAccount, u.Email); n != 0 {
			t.Fatalf("success on B left the account's count at %d", n)
		}
		for i := 0; i < 10; i++ {
			if s := try(ca, "wrong-password"); s != 401 {
				t.Fatalf("after the success, failure %d on A: %d", i, s)
			}
		}
	})
}

// TestThrottle_SprayingWithOwnSuccessesInBetween_StillStoppedPerIP: an
// attacker who signs in to their own account every few guesses does not
// reset their address's failures against other accounts.
func TestThrottle_SprayingWithOwnSuccessesInBetween_StillStoppedPerIP(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, map[string]string{"LOG_LEVEL": "warn"})
		a.srv.throttle.perIP = 20 // the mechanism, not the figure: 20 keeps the test short
		own := testdb.CreateUser(t, db, "attacker@example.com", models.RoleUser)
		c := a.client()
		c.page("/login")
		failures, successes := 0, 0
		for i := 0; i < 100; i++ {
			email, password := testdb.Name("victim", i), "Summer2026!"
			if i%9 == 8 {
				email, password = own.Email, "password123"
			}
			resp := c.form("/login", url.Values{"email": {email}, "password": {password}})
			resp.Body.Close()
			switch resp.StatusCode {
			case http.StatusUnauthorized:
				failures++
			case http.StatusSeeOther:
				successes++
				c.page("/login") // a fresh form: the session's CSRF token
			case http.StatusTooManyRequests:
				t.Logf("stopped after %d failures and %d own sign-ins", failures, successes)
				if failures > 20 {
					t.Fatalf("%d failures before the first 429, want at most 20", failures)
				}
				return
			default:
				t.Fatalf("attempt %d: %d", i, resp.StatusCode)
			}
		}
		t.Fatalf("100 attempts (%d failures, %d own sign-ins) and never a 429", failures, successes)
	})
}

// parallelSignIns posts n sign-ins at once from one client and counts the
// answers by status.
func parallelSignIns(t *testing.T, a *testApp, c *client, n int, creds func(i int) (string, string)) map[int]int {
	t.Helper()
	var mu sync.Mutex
	statuses := map[int]int{}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		email, password := creds(i)
		v := url.Values{"email": {email}, "password": {password}, "_csrf": {c.csrf}}
		req, _ := http.NewRequest("POST", testBase+"/login", strings.NewReader(v.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for _, ck := range c.jar.Cookies(mustURL(testBase)) {
			req.AddCookie(ck)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			resp, err := a.srv.Handler().Test(req, -1)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
			mu.Lock()
			statuses[resp.StatusCode]++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	return statuses
}

func loginCount(t testing.TB, db *models.DB, scope, subject string) int {
	t.Helper()
	c, err := models.GetLoginCount(context.Background(), db, models.ThrottleKey{Scope: scope, Subject: subject})
	if err != nil {
		t.Fatal(err)
	}
	return c.N
}

func alertText(body string) string {
	i := strings.Index(body, `role="alert">`)
	if i < 0 {
		return ""
	}
	rest := body[i+len(`role="alert">`):]
	if j := strings.Index(rest, "<"); j >= 0 {
		return rest[:j]
	}
	return rest
}

func testIP(i int) string { return fmt.Sprintf("198.51.100.%d", i%250+1) }

// TestHashingQueue_Full_ShedsAtOnceWith503AndRetryAfter: with every slot
// busy and the queue full, a sign-in is shed at once, says so, and does
// not count against the throttle.
func TestHashingQueue_Full_ShedsAtOnceWith503AndRetryAfter(t *testing.T) {
	db := testdb.SQLite(t)
	a := newTestApp(t, db, nil)
	u := testdb.CreateUser(t, db, "queued@example.com", models.RoleUser)
	h := a.srv.hashers
	for i := 0; i < cap(h.slots); i++ {
		h.slots <- struct{}{}
	}
	h.waiting.Add(h.maxWaiting)
	c := a.client()
	c.page("/login")
	resp := c.form("/login", url.Values{"email": {u.Email}, "password": {"password123"}})
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(strings.ToLower(body), "server busy") {
		t.Fatalf("queue full: %d Retry-After=%q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if n := loginCount(t, db, models.ScopeAccount, u.Email); n != 0 {
		t.Fatalf("a shed attempt still counts: %d", n)
	}
	h.waiting.Add(-h.maxWaiting)
	for i := 0; i < cap(h.slots); i++ {
		<-h.slots
	}
	c.login(u.Email, "password123")
}
