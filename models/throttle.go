package models

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/uptrace/bun"
)

// Sign-in throttle scopes: what a count is kept for.
const (
	ScopeAccount = "account"  // subject: the normalised email
	ScopeFactor  = "factor"   // subject: a user id; wrong second-factor codes
	ScopeIP      = "ip"       // subject: the client address
	ScopeReset   = "reset"    // subject: an email; password-reset requests
	ScopeResetIP = "reset-ip" // subject: the client address; password-reset requests
	ScopePasskey = "passkey"  // subject: the client address; passwordless passkey sign-ins started
)

// LoginWindow is the throttle's fixed window: counts start again after it,
// and the cleanup prunes counts whose window ended.
const LoginWindow = 15 * time.Minute

// ThrottleKey names one count and the most attempts it admits in a window.
type ThrottleKey struct {
	Scope   string
	Subject string
	Limit   int
}

// LoginCount is one row of login_failures: the attempts counted for a key
// in the window that started at WindowStart.
type LoginCount struct {
	bun.BaseModel `bun:"table:login_failures"`

	Scope       string    `bun:"scope"`
	Subject     string    `bun:"subject"`
	WindowStart time.Time `bun:"window_start"`
	N           int       `bun:"n"`
}

// CountSignInAttempt adds one attempt to each key that is below its limit
// in its current window (a window that started LoginWindow or more ago
// starts again at now) and returns the counts it added to; a key missing
// from them was at its limit and is left as it was, so refused attempts
// never prolong a lock. It is one statement, and each row changes under
// its own lock, so attempts arriving together — on this instance or
// another — each see a different count: at most Limit get through,
// however many arrive at once.
func CountSignInAttempt(ctx context.Context, db *DB, keys []ThrottleKey, now time.Time) ([]LoginCount, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	now = now.UTC().Truncate(time.Microsecond)
	expired := db.T(now.Add(-LoginWindow))
	var q strings.Builder
	args := make([]any, 0, 6*len(keys)+3)
	q.WriteString("INSERT INTO login_failures AS f (scope, subject, window_start, n) VALUES ")
	for i, k := range keys {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString("(?, ?, ?, 1)")
		args = append(args, k.Scope, k.Subject, db.T(now))
	}
	// Keys come in one order (the subject's, then the address's), so two
	// attempts never lock the same rows in opposite orders.
	q.WriteString(` ON CONFLICT (scope, subject) DO UPDATE SET
		n = CASE WHEN f.window_start <= ? THEN 1 ELSE f.n + 1 END,
		window_start = CASE WHEN f.window_start <= ? THEN excluded.window_start ELSE f.window_start END
		WHERE f.window_start <= ? OR f.n < CASE`)
	args = append(args, expired, expired, expired)
	for _, k := range keys {
		q.WriteString(" WHEN f.scope = ? AND f.subject = ? THEN ?")
		args = append(args, k.Scope, k.Subject, k.Limit)
	}
	q.WriteString(" ELSE 0 END RETURNING scope, subject, window_start, n")
	var out []LoginCount
	err := db.NewRaw(q.String(), args...).Scan(ctx, &out)
	return out, Wrap(err, "count sign-in attempt")
}

// UncountSignInAttempt takes one attempt back from each count, in the
// window it was counted in (a window that has started again since is left
// alone). For attempts that were counted but never judged.
func UncountSignInAttempt(ctx context.Context, db *DB, counts []LoginCount) error {
	if len(counts) == 0 {
		return nil
	}
	q := db.NewUpdate().Table("login_failures").Set("n = n - 1").Where("n > 0")
	q = q.WhereGroup(" AND ", func(q *bun.UpdateQuery) *bun.UpdateQuery {
		for _, c := range counts {
			q = q.WhereOr("scope = ? AND subject = ? AND window_start = ?", c.Scope, c.Subject, db.T(c.WindowStart))
		}
		return q
	})
	_, err := q.Exec(ctx)
	return Wrap(err, "uncount sign-in attempt")
}

// ClearLoginFailures forgets a key's count (a sign-in to that account
// succeeded).
func ClearLoginFailures(ctx context.Context, db *DB, key ThrottleKey) error {
	_, err := db.NewDelete().Table("login_failures").
		Where("scope = ? AND subject = ?", key.Scope, key.Subject).Exec(ctx)
	return Wrap(err, "clear sign-in failures")
}

// GetLoginCount reads a key's count as stored (zero when there is none),
// whatever its window; for the admin and for tests.
func GetLoginCount(ctx context.Context, db *DB, key ThrottleKey) (LoginCount, error) {
	var c LoginCount
	err := db.Read.NewSelect().Model(&c).Where("scope = ? AND subject = ?", key.Scope, key.Subject).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return LoginCount{}, nil
	}
	return c, Wrap(err, "get sign-in count")
}
