package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"
)

// Factor kinds.
const (
	FactorTOTP     = "totp"
	FactorWebAuthn = "webauthn"
	FactorRecovery = "recovery"
)

// ErrLastFactor refuses removing a user's only factor while the policy
// requires one.
var ErrLastFactor = fmt.Errorf("%w: the last second factor", ErrConflict)

// Factor is one second factor of a user: an authenticator key, a passkey,
// or one recovery code. Secret is never shown after enrolment nor logged.
type Factor struct {
	bun.BaseModel `bun:"table:factors,alias:f"`

	ID           int64     `bun:"id,pk,autoincrement"`
	UserID       int64     `bun:"user_id"`
	Kind         string    `bun:"kind"`
	Name         string    `bun:"name"`
	Secret       string    `bun:"secret"` // TOTP: base32 key; passkey: credential JSON; recovery: SHA-256
	CredentialID string    `bun:"credential_id,nullzero"`
	TOTPStep     int64     `bun:"totp_step"` // the last step whose code was accepted
	ConfirmedAt  time.Time `bun:"confirmed_at,nullzero"`
	CreatedAt    time.Time `bun:"created_at"`
	LastUsedAt   time.Time `bun:"last_used_at,nullzero"`
}

// FactorSet is what a user has enrolled (confirmed factors only).
type FactorSet struct {
	TOTP         *Factor
	Passkeys     []Factor
	RecoveryLeft int
}

// Any reports whether the user has a second factor (recovery codes alone
// are not one: they only stand in for one).
func (f FactorSet) Any() bool { return f.TOTP != nil || len(f.Passkeys) > 0 }

// Count is how many second factors the user has.
func (f FactorSet) Count() int {
	n := len(f.Passkeys)
	if f.TOTP != nil {
		n++
	}
	return n
}

// UserFactors loads the user's confirmed factors.
func UserFactors(ctx context.Context, db bun.IDB, userID int64) (FactorSet, error) {
	var rows []Factor
	err := db.NewSelect().Model(&rows).Where("user_id = ?", userID).
		Where("(kind <> ? OR confirmed_at IS NOT NULL)", FactorTOTP).OrderExpr("created_at, id").Scan(ctx)
	if err != nil {
		return FactorSet{}, Wrap(err, "user factors")
	}
	var set FactorSet
	for i := range rows {
		switch rows[i].Kind {
		case FactorTOTP:
			set.TOTP = &rows[i]
		case FactorWebAuthn:
			set.Passkeys = append(set.Passkeys, rows[i])
		case FactorRecovery:
			set.RecoveryLeft++
		}
	}
	return set, nil
}

// StartTOTP stores a new, unconfirmed key for the user (replacing any
// earlier unconfirmed one). A user whose key is confirmed must remove it
// first: ErrConflict.
func StartTOTP(ctx context.Context, db *DB, userID int64, secret string, now time.Time) error {
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		n, err := tx.NewSelect().Model((*Factor)(nil)).Where("user_id = ? AND kind = ?", userID, FactorTOTP).
			Where("confirmed_at IS NOT NULL").Count(ctx)
		if err != nil {
			return err
		}
		if n > 0 {
			return ErrConflict
		}
		if _, err := tx.NewDelete().Model((*Factor)(nil)).Where("user_id = ? AND kind = ?", userID, FactorTOTP).Exec(ctx); err != nil {
			return err
		}
		_, err = tx.NewInsert().Model(&Factor{UserID: userID, Kind: FactorTOTP, Name: "Authenticator app", Secret: secret, CreatedAt: now}).Exec(ctx)
		return err
	})
	return Wrap(err, "start totp")
}

// PendingTOTP is the user's unconfirmed key; ErrNotFound when none.
func PendingTOTP(ctx context.Context, db bun.IDB, userID int64) (*Factor, error) {
	f := new(Factor)
	err := db.NewSelect().Model(f).Where("user_id = ? AND kind = ? AND confirmed_at IS NULL", userID, FactorTOTP).
		OrderExpr("id DESC").Limit(1).Scan(ctx)
	if err != nil {
		return nil, Wrap(err, "pending totp")
	}
	return f, nil
}

// ConfirmTOTP enables an unconfirmed key whose code of step was just
// shown, and returns fresh recovery codes when the user had none (nil
// otherwise). See addedFactor for what a first factor changes.
func ConfirmTOTP(ctx context.Context, db *DB, f *Factor, step, keepSessionID int64, a Audit, now time.Time) ([]string, error) {
	var codes []string
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		res, err := tx.NewUpdate().Model((*Factor)(nil)).Set("confirmed_at = ?", now).Set("totp_step = ?", step).
			Set("last_used_at = ?", now).Where("id = ? AND user_id = ? AND confirmed_at IS NULL", f.ID, f.UserID).Exec(ctx)
		if err := affectedOne(res, err, "confirm totp"); err != nil {
			return err
		}
		codes, err = addedFactor(ctx, tx, f.UserID, keepSessionID, FactorTOTP, f.Name, a, now)
		return err
	})
	if err != nil {
		return nil, Wrap(err, "confirm totp")
	}
	return codes, nil
}

// addedFactor records a factor just added and, when it is the user's
// first, gives them recovery codes and takes the step-up proof from their
// other sessions: a password alone no longer proves all this account has.
func addedFactor(ctx context.Context, tx bun.Tx, userID, keepSessionID int64, kind, name string, a Audit, now time.Time) ([]string, error) {
	if err := RecordEvent(ctx, tx, a.event(EventFactorAdded, now, keepSessionID, userID, "kind="+kind+" name="+name)); err != nil {
		return nil, err
	}
	n, err := tx.NewSelect().Model((*Factor)(nil)).Where("user_id = ?", userID).
		Where("(kind = ? AND confirmed_at IS NOT NULL) OR kind = ?", FactorTOTP, FactorWebAuthn).Count(ctx)
	if err != nil || n > 1 {
		return nil, err
	}
	if _, err := tx.NewUpdate().Model((*Session)(nil)).Set("strong_at = NULL").
		Where("user_id = ? AND id <> ?", userID, keepSessionID).Exec(ctx); err != nil {
		return nil, err
	}
	left, err := tx.NewSelect().Model((*Factor)(nil)).Where("user_id = ? AND kind = ?", userID, FactorRecovery).Count(ctx)
	if err != nil || left > 0 {
		return nil, err
	}
	return replaceRecoveryCodes(ctx, tx, userID, now)
}

// UseTOTP accepts the code of step for the key: once, and never an older
// step after a newer one. False means the code was already used.
func UseTOTP(ctx context.Context, db *DB, factorID, step int64, now time.Time) (bool, error) {
	res, err := db.NewUpdate().Model((*Factor)(nil)).Set("totp_step = ?", step).Set("last_used_at = ?", now).
		Where("id = ? AND totp_step < ? AND confirmed_at IS NOT NULL", factorID, step).Exec(ctx)
	return usedOnce(res, err, "use totp")
}

// UseRecoveryCode spends one of the user's recovery codes (normalised by
// NormalizeRecoveryCode); false when it is not one of them (any more).
func UseRecoveryCode(ctx context.Context, db *DB, userID int64, normalized string) (bool, error) {
	res, err := db.NewDelete().Model((*Factor)(nil)).
		Where("user_id = ? AND kind = ? AND secret = ?", userID, FactorRecovery, hashRecoveryCode(normalized)).Exec(ctx)
	return usedOnce(res, err, "use recovery code")
}

func usedOnce(res interface{ RowsAffected() (int64, error) }, err error, op string) (bool, error) {
	err = affectedOne(res, err, op)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// NewRecoveryCodes replaces the user's recovery codes with fresh ones and
// returns them: the only time they exist outside their hashes.
func NewRecoveryCodes(ctx context.Context, db *DB, userID, sessionID int64, a Audit, now time.Time) ([]string, error) {
	var codes []string
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var err error
		if codes, err = replaceRecoveryCodes(ctx, tx, userID, now); err != nil {
			return err
		}
		return RecordEvent(ctx, tx, a.event(EventRecoveryCodesNew, now, sessionID, userID, fmt.Sprintf("codes=%d", len(codes))))
	})
	return codes, Wrap(err, "new recovery codes")
}

func replaceRecoveryCodes(ctx context.Context, tx bun.Tx, userID int64, now time.Time) ([]string, error) {
	codes, err := newRecoveryCodes(RecoveryCodeCount)
	if err != nil {
		return nil, err
	}
	if _, err := tx.NewDelete().Model((*Factor)(nil)).Where("user_id = ? AND kind = ?", userID, FactorRecovery).Exec(ctx); err != nil {
		return nil, err
	}
	rows := make([]Factor, len(codes))
	for i, c := range codes {
		rows[i] = Factor{UserID: userID, Kind: FactorRecovery, Secret: hashRecoveryCode(NormalizeRecoveryCode(c)), CreatedAt: now}
	}
	if _, err := tx.NewInsert().Model(&rows).Exec(ctx); err != nil {
		return nil, err
	}
	return codes, nil
}

// RemoveFactor deletes one of the user's factors (a key or a passkey;
// another user's is ErrNotFound). Removing the last one deletes the
// recovery codes too, or, when keepOne is set, is refused: ErrLastFactor.
func RemoveFactor(ctx context.Context, db *DB, userID, factorID int64, keepOne bool, sessionID int64, a Audit, now time.Time) (*Factor, error) {
	removed := new(Factor)
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := lockUser(ctx, db, tx, userID); err != nil {
			return err
		}
		err := tx.NewDelete().Model(removed).Where("id = ? AND user_id = ? AND kind IN (?, ?)", factorID, userID, FactorTOTP, FactorWebAuthn).
			Returning("*").Scan(ctx)
		if err != nil {
			return err
		}
		if removed.Kind == FactorWebAuthn { // a passkey may be the last way in of a user without a password
			if err := keepsAWayIn(ctx, tx, userID); err != nil {
				return err
			}
		}
		left, err := tx.NewSelect().Model((*Factor)(nil)).Where("user_id = ?", userID).
			Where("(kind = ? AND confirmed_at IS NOT NULL) OR kind = ?", FactorTOTP, FactorWebAuthn).Count(ctx)
		wasFactor := removed.Kind == FactorWebAuthn || !removed.ConfirmedAt.IsZero() // not an enrolment under way
		switch {
		case err != nil:
			return err
		case left == 0 && wasFactor && keepOne:
			return ErrLastFactor
		case left == 0 && wasFactor:
			if _, err := tx.NewDelete().Model((*Factor)(nil)).Where("user_id = ? AND kind = ?", userID, FactorRecovery).Exec(ctx); err != nil {
				return err
			}
		}
		return RecordEvent(ctx, tx, a.event(EventFactorRemoved, now, sessionID, userID, "kind="+removed.Kind+" name="+removed.Name))
	})
	if err != nil {
		return nil, Wrap(err, "remove factor")
	}
	return removed, nil
}

// ResetFactors deletes every factor of the user (an admin's rescue of a
// user who lost them) and ends all their sessions, returning how many.
func ResetFactors(ctx context.Context, db *DB, userID int64, a Audit, now time.Time) (int, error) {
	var ended int
	err := db.revoking(ctx, func(ctx context.Context, tx bun.Tx) ([]string, error) {
		if _, err := FindUser(ctx, tx, userID); err != nil {
			return nil, err
		}
		for _, m := range []any{(*Factor)(nil), (*webauthnUser)(nil), (*PendingSignIn)(nil)} {
			if _, err := tx.NewDelete().Model(m).Where("user_id = ?", userID).Exec(ctx); err != nil {
				return nil, err
			}
		}
		var err error
		if ended, err = deleteUserSessions(ctx, tx, userID, 0, ending{EventFactorsReset, a.ActorID}, now); err != nil {
			return nil, err
		}
		return []string{userMsg(userID)}, RecordEvent(ctx, tx, a.event(EventFactorsReset, now, 0, userID, fmt.Sprintf("sessions=%d", ended)))
	})
	if err != nil {
		return 0, Wrap(err, "reset factors")
	}
	return ended, nil
}

// webauthnUser is a user's WebAuthn handle (passkeys.go).
type webauthnUser struct {
	bun.BaseModel `bun:"table:webauthn_users"`

	UserID int64  `bun:"user_id,pk"`
	Handle string `bun:"handle"`
}
