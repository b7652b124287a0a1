package app

import (
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
		if wait, limited := a.srv.throttle.Check(u.Email, "0.0.0.0"); limited {
			t.Fatalf("success did not reset the account counter (wait %s)", wait)
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
				if n := int64(len(a.srv.hashers)); n > peak.Load() {
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
	if p := peak.Load(); p > int64(cap(a.srv.hashers)) || p == 0 {
		t.Fatalf("peak concurrent hashes %d (bound %d)", p, cap(a.srv.hashers))
	}
	if fivexx.Load() > 0 {
		t.Fatalf("%d requests failed with 5xx", fivexx.Load())
	}
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
