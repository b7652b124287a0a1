package app

import (
	"context"
	"errors"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"

	"sessiond/models"
)

// limiter bounds password hashing: each argon2id run holds 19 MiB while it
// runs, so at most a few run at once, a bounded queue waits for them, and
// a request that finds the queue full or waits too long is shed with 503
// and Retry-After. Memory then stays bounded however many sign-ins arrive.
type limiter struct {
	slots      chan struct{}
	waiting    atomic.Int64
	maxWaiting int64
}

// hashingSlots is how many hashes run at once: one per CPU Go may use, at
// most four. Hashing is CPU-bound, so more would add memory, not speed.
func hashingSlots() int { return min(max(runtime.GOMAXPROCS(0), 1), 4) }

// queuePerSlot bounds the waiting sign-ins: a few seconds of work per slot.
const queuePerSlot = 64

func newLimiter(n int) *limiter {
	return &limiter{slots: make(chan struct{}, n), maxWaiting: int64(n) * queuePerSlot}
}

// hashWait is how long a sign-in waits for a hashing slot before it is
// shed.
const hashWait = 10 * time.Second

// retryAfterBusy is the Retry-After of a shed request, in seconds.
const retryAfterBusy = "5"

// errBusy sheds a sign-in that found no hashing slot in time.
var errBusy = fiber.NewError(fiber.StatusServiceUnavailable, "server busy, please retry")

// Acquire takes a slot, waiting at most hashWait; errBusy when the queue
// is full or the wait ran out.
func (l *limiter) Acquire(ctx context.Context) error {
	select {
	case l.slots <- struct{}{}:
		return nil
	default:
	}
	if l.waiting.Add(1) > l.maxWaiting {
		l.waiting.Add(-1)
		return errBusy
	}
	defer l.waiting.Add(-1)
	ctx, cancel := context.WithTimeout(ctx, hashWait)
	defer cancel()
	select {
	case l.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return errBusy
	}
}

func (l *limiter) Release() { <-l.slots }

// throttle limits sign-in attempts (passwords and second-factor codes) per
// account and per client IP in fixed
// windows of models.LoginWindow. The counts live in the database, so every
// instance on it shares them and they outlive a restart; they are written
// on sign-in attempts only, never on an ordinary request. An attempt is
// counted before its password is hashed, so attempts arriving together
// cannot all slip under the limit. A window is short, so an attacker can
// keep an account from signing in only while they keep trying and for at
// most one window after.
type throttle struct {
	db         *models.DB
	now        func() time.Time
	perAccount int
	perIP      int
	ipScope    string // the scope of the per-address count
}

func newThrottle(db *models.DB, now func() time.Time) *throttle {
	return &throttle{db: db, now: now, perAccount: 10, perIP: 100, ipScope: models.ScopeIP}
}

// signInAttempt is one attempt as the throttle counted it.
type signInAttempt struct {
	counts []models.LoginCount // the keys it was counted against
	wait   string              // seconds for Retry-After; "" when the attempt may go on
}

// begin counts an attempt at subject (an email for models.ScopeAccount, a
// user id for models.ScopeFactor; none when scope is "") from ip before
// anything is checked.
// When either key is at its limit the attempt is refused (wait is set) and
// counts against neither, so a crowd of refused attempts never prolongs a
// lock: the counts hold failures and attempts still being checked.
func (t *throttle) begin(ctx context.Context, scope, subject, ip string) (signInAttempt, error) {
	now := t.now()
	var keys []models.ThrottleKey // the subject's first, as CountSignInAttempt wants
	if scope != "" {
		keys = append(keys, models.ThrottleKey{Scope: scope, Subject: subject, Limit: t.perAccount})
	}
	keys = append(keys, models.ThrottleKey{Scope: t.ipScope, Subject: ip, Limit: t.perIP})
	counts, err := models.CountSignInAttempt(ctx, t.db, keys, now)
	if err != nil || len(counts) == len(keys) {
		return signInAttempt{counts: counts}, err
	}
	if err := models.UncountSignInAttempt(ctx, t.db, counts); err != nil {
		return signInAttempt{}, err
	}
	wait := time.Second
	for _, k := range keys {
		c, err := models.GetLoginCount(ctx, t.db, k)
		if err != nil {
			return signInAttempt{}, err
		}
		if c.N >= k.Limit {
			wait = max(wait, c.WindowStart.Add(models.LoginWindow).Sub(now))
		}
	}
	return signInAttempt{wait: strconv.Itoa(int(wait.Seconds()) + 1)}, nil
}

// notJudged takes back an attempt that was counted but whose password was
// never checked (shed, or the database failed first), so shedding never
// locks anyone out. A failure here only leaves the count one too high.
func (s *Server) notJudged(ctx context.Context, a signInAttempt) {
	if err := models.UncountSignInAttempt(ctx, s.db, a.counts); err != nil {
		s.log.WarnContext(ctx, "take back an unjudged sign-in attempt", "error", err)
	}
}

// succeeded forgets the account's (or factor's) failures and takes this
// attempt back from the IP's count; the IP's failures against other
// accounts stay, so signing in to one's own account now and then does not
// excuse spraying guesses at others.
func (t *throttle) succeeded(ctx context.Context, a signInAttempt) error {
	var errs []error
	var ip []models.LoginCount
	for _, c := range a.counts {
		if c.Scope != t.ipScope {
			errs = append(errs, models.ClearLoginFailures(ctx, t.db, models.ThrottleKey{Scope: c.Scope, Subject: c.Subject}))
		} else {
			ip = append(ip, c)
		}
	}
	errs = append(errs, models.UncountSignInAttempt(ctx, t.db, ip))
	return errors.Join(errs...)
}
