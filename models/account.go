package models

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"
)

// Event kinds of provider accounts.
const (
	EventAccountLinked   = "account.linked"
	EventAccountUnlinked = "account.unlinked"
)

// ErrLastSignInMethod refuses removing the only way a user has left to sign
// in (their password, a provider account or a passkey).
var ErrLastSignInMethod = fmt.Errorf("%w: the last way to sign in", ErrConflict)

// Account is a user's account at a provider (an OpenID Connect provider or
// GitHub), named by the provider's subject for them. Email is what the
// provider said when it was linked, for the account page.
type Account struct {
	bun.BaseModel `bun:"table:accounts,alias:a"`

	ID         int64     `bun:"id,pk,autoincrement"`
	UserID     int64     `bun:"user_id"`
	Provider   string    `bun:"provider"`
	Subject    string    `bun:"subject"`
	Email      string    `bun:"email"`
	CreatedAt  time.Time `bun:"created_at"`
	LastUsedAt time.Time `bun:"last_used_at,nullzero"`
}

// FindAccount returns the account of subject at provider; ErrNotFound when
// nobody has linked it.
func FindAccount(ctx context.Context, db bun.IDB, provider, subject string) (*Account, error) {
	a := new(Account)
	err := db.NewSelect().Model(a).Where("provider = ? AND subject = ?", provider, subject).Scan(ctx)
	return a, Wrap(err, "find account")
}

// UserAccounts lists the user's provider accounts, oldest first.
func UserAccounts(ctx context.Context, db bun.IDB, userID int64) ([]Account, error) {
	var out []Account
	err := db.NewSelect().Model(&out).Where("user_id = ?", userID).OrderExpr("created_at, id").Scan(ctx)
	return out, Wrap(err, "user accounts")
}

// LinkAccount links a to its user and records it; an account already
// linked (to anyone) is ErrConflict.
func LinkAccount(ctx context.Context, db *DB, a *Account, au Audit, now time.Time) error {
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		return linkAccount(ctx, tx, a, au, now)
	})
	return Wrap(err, "link account")
}

func linkAccount(ctx context.Context, tx bun.Tx, a *Account, au Audit, now time.Time) error {
	a.CreatedAt, a.LastUsedAt = now, now
	a.Email = clip(a.Email, 254)
	if _, err := tx.NewInsert().Model(a).Returning("id").Exec(ctx); err != nil {
		return err
	}
	return RecordEvent(ctx, tx, au.event(EventAccountLinked, now, 0, a.UserID, "provider="+a.Provider))
}

// UnlinkAccount removes one of the user's provider accounts (another
// user's is ErrNotFound), unless it is their last way to sign in:
// ErrLastSignInMethod.
func UnlinkAccount(ctx context.Context, db *DB, userID, accountID int64, au Audit, now time.Time) (*Account, error) {
	unlinked := new(Account)
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := lockUser(ctx, db, tx, userID); err != nil {
			return err
		}
		if err := tx.NewDelete().Model(unlinked).Where("id = ? AND user_id = ?", accountID, userID).Returning("*").Scan(ctx); err != nil {
			return err
		}
		if err := keepsAWayIn(ctx, tx, userID); err != nil {
			return err
		}
		return RecordEvent(ctx, tx, au.event(EventAccountUnlinked, now, 0, userID, "provider="+unlinked.Provider))
	})
	if err != nil {
		return nil, Wrap(err, "unlink account")
	}
	return unlinked, nil
}

// TouchAccount records a sign-in through the account.
func TouchAccount(ctx context.Context, db bun.IDB, id int64, now time.Time) error {
	_, err := db.NewUpdate().Model((*Account)(nil)).Set("last_used_at = ?", now).Where("id = ?", id).Exec(ctx)
	return Wrap(err, "touch account")
}

// CreateProviderUser creates a user who signed up through a provider: no
// password (they may set one later) and a as their first account, in one
// transaction. A taken email is ErrConflict.
func CreateProviderUser(ctx context.Context, db *DB, n NewUser, a *Account, au Audit, now time.Time) (*User, error) {
	if err := n.validateProfile(); err != nil {
		return nil, err
	}
	verified := now // only a verified email signs up through a provider
	u := &User{Email: n.Email, Name: n.Name, Role: n.Role, CreatedAt: now, UpdatedAt: now, EmailVerifiedAt: &verified}
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewInsert().Model(u).Returning("id").Exec(ctx); err != nil {
			return err
		}
		au.ActorID = u.ID // signing up is the user's own act
		if err := RecordEvent(ctx, tx, au.event(EventUserCreated, now, 0, u.ID, "signed up through "+a.Provider)); err != nil {
			return err
		}
		a.UserID = u.ID
		return linkAccount(ctx, tx, a, au, now)
	})
	if err != nil {
		return nil, Wrap(err, "create provider user")
	}
	return u, nil
}

// SignInMethods counts the ways the user can sign in on their own: a
// password, each provider account, each passkey (which signs in alone).
func SignInMethods(ctx context.Context, db bun.IDB, userID int64) (int, error) {
	var n int
	err := db.NewSelect().ColumnExpr(`(SELECT COUNT(*) FROM users WHERE id = ? AND password_hash <> '')
		+ (SELECT COUNT(*) FROM accounts WHERE user_id = ?)
		+ (SELECT COUNT(*) FROM factors WHERE user_id = ? AND kind = ?)`, userID, userID, userID, FactorWebAuthn).
		Scan(ctx, &n)
	return n, Wrap(err, "count sign-in methods")
}

// keepsAWayIn is ErrLastSignInMethod when, inside tx, the user has no way
// left to sign in.
func keepsAWayIn(ctx context.Context, tx bun.Tx, userID int64) error {
	n, err := SignInMethods(ctx, tx, userID)
	switch {
	case err != nil:
		return err
	case n == 0:
		return ErrLastSignInMethod
	}
	return nil
}

// lockUser holds the user's row until tx ends, so that two removals of
// sign-in methods cannot both see the other's as left (SQLite's single
// writer already orders them).
func lockUser(ctx context.Context, db *DB, tx bun.Tx, userID int64) error {
	if db.Kind != Postgres {
		return nil
	}
	var id int64
	return tx.NewRaw("SELECT id FROM users WHERE id = ? FOR UPDATE", userID).Scan(ctx, &id)
}
