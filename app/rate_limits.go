package app

import (
	"strconv"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"sessiond/models"
)

// rateLimits holds the rate: of the access rules, per rule and session
// (per client address when the rule bypasses sign-in). It is in memory
// and per instance: sharing it through the database would cost a write
// per proxied request. Each key keeps one number, GCRA's theoretical
// arrival time: a burst of N, then one request every Per/N, and the exact
// wait for Retry-After.
type rateLimits struct {
	mu      sync.Mutex
	tat     map[rateKey]int64 // unix ns; a time already past means "full allowance"
	pruneAt int               // prune ended keys when the map reaches this size
	full    bool              // at maxRateKeys after pruning: new keys pass uncounted
}

// rateKey: the rule's index, and the session or (bypass) the address.
type rateKey struct {
	rule    int
	session int64
	ip      string
}

// maxRateKeys bounds memory (about 100 bytes a key) when a flood of
// addresses hits a bypassed rule; past it new keys are not limited, which
// the log says once.
const maxRateKeys = 1 << 20

func newRateLimits() *rateLimits {
	return &rateLimits{tat: make(map[rateKey]int64), pruneAt: 4096}
}

// take counts one request against r for key at now; false and how long to
// wait when it is over the limit.
func (l *rateLimits) take(key rateKey, r *rateLimit, now time.Time) (time.Duration, bool, bool) {
	n := now.UnixNano()
	interval := int64(r.Per) / int64(r.N)
	l.mu.Lock()
	defer l.mu.Unlock()
	tat, known := l.tat[key]
	if tat < n {
		tat = n
	}
	next := tat + interval
	if allowAt := next - int64(r.Per); n < allowAt {
		return time.Duration(allowAt - n), false, false
	}
	warn := false
	if !known && len(l.tat) >= l.pruneAt {
		warn = l.prune(n)
		if l.full {
			return 0, true, warn
		}
	}
	l.tat[key] = next
	return 0, true, warn
}

// prune drops keys whose allowance is full again (they count as new). It
// reports whether the map just became full.
func (l *rateLimits) prune(n int64) bool {
	for k, tat := range l.tat {
		if tat <= n {
			delete(l.tat, k)
		}
	}
	l.pruneAt = max(2*len(l.tat), 4096)
	wasFull := l.full
	l.full = len(l.tat) >= maxRateKeys
	return l.full && !wasFull
}

// verifyRate counts an admitted request against its rule's rate; false
// when it is over, with Retry-After set.
func (s *Server) verifyRate(c *fiber.Ctx, rules *accessRules, rule *accessRule, sess *models.Session) bool {
	if rule == nil || rule.Rate == nil {
		return true
	}
	var key rateKey
	if sess != nil && rule.Policy != policyBypass {
		key = rateKey{rule: rule.index, session: sess.ID}
	} else {
		key = rateKey{rule: rule.index, ip: s.clientIP(c)}
	}
	wait, ok, full := rules.limits.take(key, rule.Rate, s.sessions.Now())
	if full {
		s.log.Warn("rate limits: too many sessions and addresses at once; new ones pass uncounted until old ones expire", "keys", maxRateKeys)
	}
	if !ok {
		secs := int((wait + time.Second - 1) / time.Second)
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(max(secs, 1)))
	}
	return ok
}

// verifyLimited refuses a request over its rule's rate. nginx's
// auth_request passes on only 401 and 403, so it gets 403 with
// Retry-After and its error page turns that into 429 (see the README);
// Caddy and Traefik pass the 429 on as it is.
func (s *Server) verifyLimited(c *fiber.Ctx, nginx bool) error {
	if nginx {
		return emptyAnswer(c, fiber.StatusForbidden)
	}
	return fiber.NewError(fiber.StatusTooManyRequests, "too many requests: try again in "+c.GetRespHeader(fiber.HeaderRetryAfter)+" s")
}
