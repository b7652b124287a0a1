package models

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"strings"
	"time"

	"github.com/uptrace/bun"
)

// WebAuthnHandle is the user's WebAuthn user handle (32 random bytes), the
// same for every passkey they register; create makes one when there is
// none. It carries nothing about the user, as the specification asks.
func WebAuthnHandle(ctx context.Context, db *DB, userID int64, create bool) ([]byte, error) {
	w := new(webauthnUser)
	err := db.NewSelect().Model(w).Where("user_id = ?", userID).Scan(ctx)
	switch {
	case err == nil:
		return base64.RawURLEncoding.DecodeString(w.Handle)
	case !errors.Is(err, sql.ErrNoRows) || !create:
		return nil, Wrap(err, "webauthn handle")
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	w = &webauthnUser{UserID: userID, Handle: base64.RawURLEncoding.EncodeToString(b)}
	if _, err := db.NewInsert().Model(w).On("CONFLICT (user_id) DO NOTHING").Exec(ctx); err != nil {
		return nil, Wrap(err, "create webauthn handle")
	}
	return WebAuthnHandle(ctx, db, userID, false) // a concurrent insert may have won
}

// UserByWebAuthnHandle is the user a passkey names at a sign-in without a
// password; ErrNotFound when none.
func UserByWebAuthnHandle(ctx context.Context, db *DB, handle []byte) (*User, error) {
	w := new(webauthnUser)
	err := db.NewSelect().Model(w).Where("handle = ?", base64.RawURLEncoding.EncodeToString(handle)).Scan(ctx)
	if err != nil {
		return nil, Wrap(err, "user by webauthn handle")
	}
	return FindUser(ctx, db, w.UserID)
}

// MaxFactorName bounds a passkey's name.
const MaxFactorName = 64

// CleanFactorName trims a name a user gave; "" when it is unusable.
func CleanFactorName(name string) string {
	name = strings.TrimSpace(name)
	if len(name) > MaxFactorName || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return ""
	}
	return name
}

// AddPasskey stores a registered credential (its JSON, and its id for
// lookups) and returns recovery codes when it is the user's first factor
// (see addedFactor). A credential id already registered is ErrConflict.
func AddPasskey(ctx context.Context, db *DB, userID int64, name, credentialID, credential string, sessionID int64, a Audit, now time.Time) ([]string, error) {
	var codes []string
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		f := &Factor{UserID: userID, Kind: FactorWebAuthn, Name: name, Secret: credential, CredentialID: credentialID,
			ConfirmedAt: now, CreatedAt: now}
		if _, err := tx.NewInsert().Model(f).Exec(ctx); err != nil {
			return err
		}
		var err error
		codes, err = addedFactor(ctx, tx, userID, sessionID, FactorWebAuthn, name, a, now)
		return err
	})
	if err != nil {
		return nil, Wrap(err, "add passkey")
	}
	return codes, nil
}

// UsePasskey stores a credential as its last sign-in left it (sign count,
// flags) with the time.
func UsePasskey(ctx context.Context, db *DB, factorID int64, credential string, now time.Time) error {
	res, err := db.NewUpdate().Model((*Factor)(nil)).Set("secret = ?", credential).Set("last_used_at = ?", now).
		Where("id = ? AND kind = ?", factorID, FactorWebAuthn).Exec(ctx)
	return affectedOne(res, err, "use passkey")
}

// RenameFactor names one of the user's passkeys; another user's is ErrNotFound.
func RenameFactor(ctx context.Context, db *DB, userID, factorID int64, name string) error {
	res, err := db.NewUpdate().Model((*Factor)(nil)).Set("name = ?", name).
		Where("id = ? AND user_id = ? AND kind = ?", factorID, userID, FactorWebAuthn).Exec(ctx)
	return affectedOne(res, err, "rename passkey")
}
