package models

import (
	"context"
	"time"

	"github.com/uptrace/bun"
)

// What a pending sign-in waits for.
const (
	PendingSecondFactor = "second_factor" // the password is done; a code or passkey is to come
	PendingEnrol        = "enrol"         // the password is done; the policy wants a factor enrolled first
	PendingPasskey      = "passkey"       // a sign-in with a passkey alone; the user is not known yet
	PendingCeremony     = "ceremony"      // a WebAuthn ceremony inside a session (add a passkey, re-authenticate)
)

// PendingSignInTTL is how long a second step (or a ceremony) may take.
const PendingSignInTTL = 5 * time.Minute

// MaxPendingAttempts is how many wrong codes one pending sign-in takes
// before it is dropped and the password is asked again.
const MaxPendingAttempts = 5

// PendingSignIn is a sign-in under way, found by the hash of the token in
// its own cookie. It is not a session: nothing is signed in until it ends
// in one.
type PendingSignIn struct {
	bun.BaseModel `bun:"table:pending_signins"`

	ID        int64     `bun:"id,pk,autoincrement"`
	TokenHash string    `bun:"token_hash"`
	UserID    int64     `bun:"user_id,nullzero"`
	SessionID int64     `bun:"session_id,nullzero"`
	Purpose   string    `bun:"purpose"`
	AMR       AMR       `bun:"amr"`       // what is proved so far
	Next      string    `bun:"next"`      // where the sign-in returns
	Challenge string    `bun:"challenge"` // a WebAuthn ceremony's session data (JSON)
	Attempts  int       `bun:"attempts"`
	CreatedAt time.Time `bun:"created_at"`
	ExpiresAt time.Time `bun:"expires_at"`
}

// CreatePendingSignIn stores p (its times set here) and returns the token
// for its cookie. Expired rows go first, so abandoned sign-ins never pile up.
func CreatePendingSignIn(ctx context.Context, db *DB, p *PendingSignIn, now time.Time) (string, error) {
	token, err := NewToken()
	if err != nil {
		return "", err
	}
	p.TokenHash, p.CreatedAt, p.ExpiresAt = HashToken(token), now, now.Add(PendingSignInTTL)
	err = db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewDelete().Model((*PendingSignIn)(nil)).Where("expires_at <= ?", db.T(now)).Exec(ctx); err != nil {
			return err
		}
		_, err := tx.NewInsert().Model(p).Returning("id").Exec(ctx)
		return err
	})
	if err != nil {
		return "", Wrap(err, "create pending sign-in")
	}
	return token, nil
}

// FindPendingSignIn returns the unexpired pending sign-in of token;
// ErrNotFound for anything else (malformed, unknown, expired).
func FindPendingSignIn(ctx context.Context, db *DB, token string, now time.Time) (*PendingSignIn, error) {
	if !WellFormedToken(token) {
		return nil, Wrap(ErrNotFound, "find pending sign-in")
	}
	p := new(PendingSignIn)
	err := db.NewSelect().Model(p).Where("token_hash = ?", HashToken(token)).Where("expires_at > ?", db.T(now)).Scan(ctx)
	if err != nil {
		return nil, Wrap(err, "find pending sign-in")
	}
	return p, nil
}

// FindCeremony is the session's WebAuthn ceremony under way; ErrNotFound
// when none is.
func FindCeremony(ctx context.Context, db *DB, sessionID int64, now time.Time) (*PendingSignIn, error) {
	p := new(PendingSignIn)
	err := db.NewSelect().Model(p).Where("session_id = ? AND purpose = ?", sessionID, PendingCeremony).
		Where("expires_at > ?", db.T(now)).OrderExpr("id DESC").Limit(1).Scan(ctx)
	if err != nil {
		return nil, Wrap(err, "find ceremony")
	}
	return p, nil
}

// SetPendingChallenge keeps the session data of a WebAuthn ceremony begun
// for p.
func SetPendingChallenge(ctx context.Context, db *DB, id int64, challenge string) error {
	res, err := db.NewUpdate().Model((*PendingSignIn)(nil)).Set("challenge = ?", challenge).Where("id = ?", id).Exec(ctx)
	return affectedOne(res, err, "set pending challenge")
}

// FailPendingSignIn counts a wrong code against p and drops it at
// MaxPendingAttempts; it reports whether p is gone.
func FailPendingSignIn(ctx context.Context, db *DB, id int64) (bool, error) {
	var attempts int
	err := db.NewUpdate().Model((*PendingSignIn)(nil)).Set("attempts = attempts + 1").Where("id = ?", id).
		Returning("attempts").Scan(ctx, &attempts)
	if err != nil {
		return false, Wrap(err, "fail pending sign-in")
	}
	if attempts < MaxPendingAttempts {
		return false, nil
	}
	return true, DeletePendingSignIn(ctx, db, id)
}

// DeletePendingSignIn ends p. It is how a sign-in claims its pending row:
// of two requests finishing the same one, only the first finds it
// (ErrNotFound for the other).
func DeletePendingSignIn(ctx context.Context, db bun.IDB, id int64) error {
	res, err := db.NewDelete().Model((*PendingSignIn)(nil)).Where("id = ?", id).Exec(ctx)
	return affectedOne(res, err, "delete pending sign-in")
}
