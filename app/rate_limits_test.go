package app

import (
	"net/http"
	"testing"
	"time"

	"sessiond/models"
	"sessiond/models/testdb"
)

const rateRules = `rules:
  - paths: [/limited/*]
    rate: 3/min
  - paths: [/public/*]
    policy: bypass
    rate: 2/hour
`

func TestForwardAuth_Rate_PerSession_429WithRetryAfter_NginxGets403WithIt(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, rulesEnv(t, rateRules))
		u := testdb.CreateUser(t, db, "rate@example.com", models.RoleUser)
		c, other := a.client(), a.client()
		c.login(u.Email, "password123")
		other.login(u.Email, "password123")
		caddy := verifyHeaders(t, "caddy", "GET", "https://app.example.com/limited/x")
		nginx := verifyHeaders(t, "nginx", "GET", "https://app.example.com/limited/x")
		for i := range 3 {
			if resp := c.verify("", caddy); resp.StatusCode != http.StatusOK {
				t.Fatalf("request %d within the rate: %d", i+1, resp.StatusCode)
			}
		}
		resp := c.verify("", caddy)
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "20" {
			t.Fatalf("over the rate: %d Retry-After %q, want 429 and 20 (3/min: one more every 20 s)", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
		wantNoRemote(t, resp)
		resp = c.verify("", nginx)
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Retry-After") != "20" {
			t.Fatalf("nginx, over the rate: %d Retry-After %q, want 403 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
		if resp := other.verify("", caddy); resp.StatusCode != http.StatusOK {
			t.Fatalf("another session of the same user: %d, want its own count", resp.StatusCode)
		}
		if resp := c.verify("", verifyHeaders(t, "caddy", "GET", "https://app.example.com/free")); resp.StatusCode != http.StatusOK {
			t.Fatalf("a path without a rate: %d", resp.StatusCode)
		}
		a.clock.Advance(15 * time.Second)
		if resp := c.verify("", caddy); resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "5" {
			t.Fatalf("15 s later: %d Retry-After %q, want 429 and 5", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
		a.clock.Advance(5 * time.Second)
		if resp := c.verify("", caddy); resp.StatusCode != http.StatusOK {
			t.Fatalf("20 s later: %d, want one more", resp.StatusCode)
		}
	})
}

func TestForwardAuth_Rate_Bypassed_PerClientAddress(t *testing.T) {
	db := testdb.SQLite(t)
	a := newTestApp(t, db, rulesEnv(t, rateRules))
	anon := a.client()
	from := func(ip string) http.Header {
		h := verifyHeaders(t, "api", "GET", "https://app.example.com/public/page")
		h.Set("X-Forwarded-For", ip)
		return h
	}
	for range 2 {
		if resp := anon.verify("", from("203.0.113.9")); resp.StatusCode != http.StatusOK {
			t.Fatalf("within the rate: %d", resp.StatusCode)
		}
	}
	resp := anon.request("GET", "/auth/verify", nil, from("203.0.113.9"))
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1800" {
		t.Fatalf("over the rate: %d Retry-After %q, want 429 and 1800", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if body := readBody(t, resp); body != `{"error":"too many requests: try again in 1800 s"}` {
		t.Fatalf("429 body %s", body)
	}
	if resp := anon.verify("", from("203.0.113.10")); resp.StatusCode != http.StatusOK {
		t.Fatalf("another address: %d, want its own count", resp.StatusCode)
	}
}

func TestRateLimits_PruneDropsEndedKeys(t *testing.T) {
	l := newRateLimits()
	r := &rateLimit{N: 1, Per: time.Second}
	now := time.Unix(1000, 0)
	for i := range 5000 {
		if _, ok, _ := l.take(rateKey{session: int64(i)}, r, now); !ok {
			t.Fatal("a first request refused")
		}
	}
	if _, ok, _ := l.take(rateKey{session: 1}, r, now); ok {
		t.Fatal("a second request within the second admitted")
	}
	later := now.Add(2 * time.Second)
	l.pruneAt = len(l.tat)
	l.take(rateKey{session: 99999}, r, later) // a new key past pruneAt prunes
	if len(l.tat) != 1 {
		t.Fatalf("%d keys after the prune, want only the new one", len(l.tat))
	}
}
