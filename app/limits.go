package app

import (
	"context"
	"strconv"
	"sync"
	"time"
)

// limiter bounds concurrent password hashing: each argon2id run takes
// 19 MiB, so 200 parallel sign-ins queue here instead of exhausting memory.
type limiter chan struct{}

func newLimiter(n int) limiter { return make(limiter, n) }

// Acquire waits for a slot, at most 10 s.
func (l limiter) Acquire(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	select {
	case l <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l limiter) Release() { <-l }

// throttle counts failed sign-ins per account and per client IP in fixed
// windows. A window is short (15 min), so an attacker can keep an account
// from signing in for at most that long after they stop; a success resets
// the counters.
type throttle struct {
	mu         sync.Mutex
	now        func() time.Time
	window     time.Duration
	perAccount int
	perIP      int
	counts     map[string]*window
}

type window struct {
	start time.Time
	n     int
}

const maxThrottleKeys = 100_000

func newThrottle(now func() time.Time) *throttle {
	return &throttle{now: now, window: 15 * time.Minute, perAccount: 10, perIP: 100, counts: map[string]*window{}}
}

// Check reports whether a sign-in for email from ip must wait, and how many
// seconds (for Retry-After).
func (t *throttle) Check(email, ip string) (string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	for _, k := range []struct {
		key   string
		limit int
	}{{"a:" + email, t.perAccount}, {"i:" + ip, t.perIP}} {
		w := t.counts[k.key]
		if w == nil || now.Sub(w.start) >= t.window || w.n < k.limit {
			continue
		}
		wait := int(w.start.Add(t.window).Sub(now).Seconds()) + 1
		return strconv.Itoa(wait), true
	}
	return "", false
}

// Fail counts a failed attempt against both keys.
func (t *throttle) Fail(email, ip string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if len(t.counts) >= maxThrottleKeys {
		t.prune(now)
	}
	for _, key := range []string{"a:" + email, "i:" + ip} {
		w := t.counts[key]
		if w == nil || now.Sub(w.start) >= t.window {
			w = &window{start: now}
			t.counts[key] = w
		}
		w.n++
	}
}

// Succeed resets the counters of the account and the IP.
func (t *throttle) Succeed(email, ip string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.counts, "a:"+email)
	delete(t.counts, "i:"+ip)
}

func (t *throttle) prune(now time.Time) {
	for k, w := range t.counts {
		if now.Sub(w.start) >= t.window {
			delete(t.counts, k)
		}
	}
	if len(t.counts) >= maxThrottleKeys { // still full: forget the oldest state wholesale
		t.counts = map[string]*window{}
	}
}
