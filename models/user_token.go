package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"
)

// Purposes of a user token, and how long each link works.
const (
	TokenReset  = "reset"
	TokenVerify = "verify"
	TokenNotMe  = "not_me"

	ResetTokenTTL  = 30 * time.Minute
	VerifyTokenTTL = 24 * time.Hour
	NotMeTokenTTL  = 7 * 24 * time.Hour
)

// EventPasswordReset: a password was set through a reset link or by an
// admin's command; every session of the user ended.
const EventPasswordReset = "user.password_reset"

// ErrBadLink is the one answer to a link that is malformed, unknown,
// used or expired: which of these it was is nobody's business.
var ErrBadLink = &ValidationError{Field: "token", Message: "this link is invalid or has expired; ask for a new one"}

// UserToken is a link mailed to a user, found by the hash of its token.
type UserToken struct {
	bun.BaseModel `bun:"table:user_tokens"`

	ID        int64     `bun:"id,pk,autoincrement"`
	UserID    int64     `bun:"user_id"`
	Purpose   string    `bun:"purpose"`
	TokenHash string    `bun:"token_hash"`
	Email     string    `bun:"email"`
	SessionID *int64    `bun:"session_id"`
	CreatedAt time.Time `bun:"created_at"`
	ExpiresAt time.Time `bun:"expires_at"`
}

// MintUserToken stores a new link of t.Purpose for t.UserID, replacing
// any earlier one of that purpose (so only the newest link works), and
// returns the raw token: it exists only in the message that carries it.
func MintUserToken(ctx context.Context, db bun.IDB, t *UserToken, ttl time.Duration, now time.Time) (string, error) {
	raw, err := NewToken()
	if err != nil {
		return "", err
	}
	t.TokenHash, t.CreatedAt, t.ExpiresAt = HashToken(raw), now, now.Add(ttl)
	err = db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if t.Purpose != TokenNotMe { // each alert's link names its own session
			if _, err := tx.NewDelete().Model((*UserToken)(nil)).
				Where("user_id = ? AND purpose = ?", t.UserID, t.Purpose).Exec(ctx); err != nil {
				return err
			}
		}
		_, err := tx.NewInsert().Model(t).Exec(ctx)
		return err
	})
	return raw, Wrap(err, "mint "+t.Purpose+" link")
}

// FindUserToken returns the live token of purpose for raw, or ErrBadLink.
func FindUserToken(ctx context.Context, db *DB, raw, purpose string, now time.Time) (*UserToken, error) {
	return findUserToken(ctx, db.Read, db, raw, purpose, now)
}

func findUserToken(ctx context.Context, db bun.IDB, dbKind *DB, raw, purpose string, now time.Time) (*UserToken, error) {
	if !WellFormedToken(raw) {
		return nil, ErrBadLink
	}
	t := new(UserToken)
	err := db.NewSelect().Model(t).Where("token_hash = ? AND purpose = ? AND expires_at > ?",
		HashToken(raw), purpose, dbKind.T(now)).Scan(ctx)
	if err := Wrap(err, "find link"); err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, ErrBadLink
		}
		return nil, err
	}
	return t, nil
}

// ResetPassword sets the password of the user a live reset link names,
// uses the link up, ends every session of the user and records the reset,
// all in one transaction. A bad link is ErrBadLink and changes nothing.
func ResetPassword(ctx context.Context, db *DB, raw, password string, a Audit, now time.Time) (*User, int, error) {
	if err := CheckPassword(password); err != nil {
		return nil, 0, err
	}
	hash, err := HashPassword(password)
	if err != nil {
		return nil, 0, err
	}
	var user User
	var ended int
	err = db.revoking(ctx, func(ctx context.Context, tx bun.Tx) ([]string, error) {
		t, err := findUserToken(ctx, tx, db, raw, TokenReset, now)
		if err != nil {
			return nil, err
		}
		if ended, err = setPasswordTx(ctx, tx, t.UserID, hash, 0, now); err != nil {
			return nil, err
		}
		if err := tx.NewSelect().Model(&user).Where("id = ?", t.UserID).Scan(ctx); err != nil {
			return nil, err
		}
		a.ActorID = t.UserID
		return []string{userMsg(t.UserID)}, RecordEvent(ctx, tx, a.event(EventPasswordReset, now, 0, t.UserID, fmt.Sprintf("via=link sessions=%d", ended)))
	})
	if err != nil {
		return nil, 0, Wrap(err, "reset password")
	}
	return &user, ended, nil
}

// setPasswordTx stores a new hash, voids every reset link of the user and
// ends their sessions but keepSessionID.
func setPasswordTx(ctx context.Context, tx bun.Tx, id int64, hash string, keepSessionID int64, now time.Time) (int, error) {
	res, err := tx.NewUpdate().Model((*User)(nil)).Set("password_hash = ?", hash).Set("updated_at = ?", now).
		Where("id = ?", id).Exec(ctx)
	if err := affectedOne(res, err, "set password"); err != nil {
		return 0, err
	}
	if _, err := tx.NewDelete().Model((*UserToken)(nil)).Where("user_id = ? AND purpose = ?", id, TokenReset).Exec(ctx); err != nil {
		return 0, err
	}
	return deleteUserSessions(ctx, tx, id, keepSessionID, ending{EventPasswordChanged, 0}, now)
}

// ValidEmail reports whether s looks like an email address sessiond can
// mail (the same check as for a new user).
func ValidEmail(s string) bool { return validEmail(s) }
