package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
)

// Audit events of an account's lifecycle.
const (
	EventUserDisabled = "user.disabled"
	EventUserEnabled  = "user.enabled"
)

// ConflictError is a change refused because it would break a rule, with a
// message the person asking can act on. It is an ErrConflict.
type ConflictError struct{ Message string }

func (e *ConflictError) Error() string { return e.Message }

// Is makes errors.Is(err, ErrConflict) hold.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// keepAnActiveAdmin refuses, inside tx, a change that would leave no
// active admin: id is being deleted, demoted or disabled. Every such
// change goes through it, whoever asks (console, JSON, command line).
func keepAnActiveAdmin(ctx context.Context, tx bun.Tx, id int64, what string) error {
	u := new(User)
	if err := tx.NewSelect().Model(u).Where("id = ?", id).Scan(ctx); err != nil {
		return err
	}
	if !u.IsAdmin() || u.Disabled() {
		return nil
	}
	// Lock every active admin's row, in id order, before counting: two
	// admins demoting each other at once then queue behind one lock (the
	// second sees the first's change and is refused) instead of each
	// locking the other's row and deadlocking. SQLite has one writer.
	q := tx.NewSelect().Model((*User)(nil)).Column("id").
		Where("role = ? AND disabled_at IS NULL", RoleAdmin).Order("id")
	if tx.Dialect().Name() == dialect.PG {
		q = q.For("UPDATE")
	}
	var admins []int64
	if err := q.Scan(ctx, &admins); err != nil {
		return err
	}
	for _, other := range admins {
		if other != id {
			return nil
		}
	}
	return &ConflictError{Message: fmt.Sprintf("%s is the last active admin and cannot be %s: make another admin first", u.Email, what)}
}

// SetUserDisabled disables (or enables) an account. Disabling ends every
// session of the user at once, on every instance, and refuses the last
// active admin. It returns how many sessions ended.
func SetUserDisabled(ctx context.Context, db *DB, id int64, disabled bool, a Audit, now time.Time) (int, error) {
	var ended int
	err := db.revoking(ctx, func(ctx context.Context, tx bun.Tx) ([]string, error) {
		kind := EventUserEnabled
		q := tx.NewUpdate().Model((*User)(nil)).Set("updated_at = ?", now).Where("id = ?", id)
		if disabled {
			if err := keepAnActiveAdmin(ctx, tx, id, "disabled"); err != nil {
				return nil, err
			}
			kind = EventUserDisabled
			q = q.Set("disabled_at = COALESCE(disabled_at, ?)", now)
		} else {
			q = q.Set("disabled_at = NULL")
		}
		res, err := q.Exec(ctx)
		if err := affectedOne(res, err, "set disabled"); err != nil {
			return nil, err
		}
		if disabled {
			if ended, err = deleteUserSessions(ctx, tx, id, 0, ending{kind, a.ActorID}, now); err != nil {
				return nil, err
			}
		}
		return []string{userMsg(id)}, RecordEvent(ctx, tx, a.event(kind, now, 0, id, fmt.Sprintf("sessions=%d", ended)))
	})
	if err != nil {
		return 0, Wrap(err, "set disabled")
	}
	return ended, nil
}

// SetSignInAlerts turns the user's sign-in alert mail on or off.
func SetSignInAlerts(ctx context.Context, db bun.IDB, id int64, on bool, now time.Time) error {
	res, err := db.NewUpdate().Model((*User)(nil)).Set("signin_alerts = ?", on).Set("updated_at = ?", now).
		Where("id = ?", id).Exec(ctx)
	return Wrap(affectedOne(res, err, "set sign-in alerts"), "set sign-in alerts")
}

// UseUserToken finds the live token of purpose for raw and deletes it, in
// one transaction: a link works once. A bad link is ErrBadLink.
func UseUserToken(ctx context.Context, db *DB, raw, purpose string, now time.Time) (*UserToken, error) {
	var t *UserToken
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var err error
		if t, err = findUserToken(ctx, tx, db, raw, purpose, now); err != nil {
			return err
		}
		_, err = tx.NewDelete().Model((*UserToken)(nil)).Where("id = ?", t.ID).Exec(ctx)
		return err
	})
	if errors.Is(err, ErrBadLink) {
		return nil, ErrBadLink
	}
	return t, Wrap(err, "use link")
}
