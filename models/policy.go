package models

import "time"

// Policy is the session lifetime configuration (Auth.js's database strategy
// plus an absolute cap and a touch interval).
type Policy struct {
	MaxAge           time.Duration // idle lifetime after the last extension
	UpdateAge        time.Duration // extend at most this often
	AbsoluteLifetime time.Duration // 0: no cap
	TouchInterval    time.Duration // last_seen_at/ip/user_agent at most this often
}

// due is what a session with these times needs at now: refused (expired,
// or past its absolute lifetime), an extension (updateAge has passed since
// the last one) or a touch (the touch interval has passed since it was last
// seen). Validate acts on it; a cached session answers a request only when
// it is due nothing.
func (p Policy) due(expires, created, seen, now time.Time) (refuse, extend, touch bool) {
	refuse = !expires.After(now) || (p.AbsoluteLifetime > 0 && !created.Add(p.AbsoluteLifetime).After(now))
	extend = !expires.Add(-p.MaxAge).Add(p.UpdateAge).After(now)
	touch = now.Sub(seen) >= p.TouchInterval
	return refuse, extend, touch
}

// DefaultPolicy is Auth.js's: 30 days, extended at most daily.
var DefaultPolicy = Policy{MaxAge: 30 * 24 * time.Hour, UpdateAge: 24 * time.Hour, TouchInterval: 5 * time.Minute}

// expiry is now+MaxAge, never past the absolute cap.
func (p Policy) expiry(createdAt, now time.Time) time.Time {
	exp := now.Add(p.MaxAge)
	if p.AbsoluteLifetime > 0 {
		if limit := createdAt.Add(p.AbsoluteLifetime); exp.After(limit) {
			exp = limit
		}
	}
	return exp
}
