package models

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/uptrace/bun"
)

// Audit events of a profile change.
const (
	// EventUserUpdated: an admin changed a user's name or email (detail
	// name=… and email=old→new, or email_pending=new while a link is out).
	EventUserUpdated = "user.updated"
	// EventEmailVerified: a verification link was followed; detail email=….
	EventEmailVerified = "user.email_verified"
)

// ProfileUpdate is an admin's edit of a user: the name and email to have.
type ProfileUpdate struct {
	Name, Email string
	// VerifyEmail keeps a new email pending until a link mailed to it is
	// followed (a mail server is configured); otherwise it applies at once,
	// unverified.
	VerifyEmail bool
}

// ProfileResult is what an update did.
type ProfileResult struct {
	User         *User  // as it now is
	PendingEmail string // the new email waiting for its link; "" when none
}

// UpdateProfile edits a user's name and email. A pending email is handed to
// queue, inside the transaction, so its verification mail exists exactly
// when the change does. The user's cached sessions are dropped on every
// instance: forward-auth sends the new name and email with the next request.
// A taken email is ErrConflict, an unknown user ErrNotFound.
func UpdateProfile(ctx context.Context, db *DB, id int64, in ProfileUpdate, a Audit, now time.Time,
	queue func(ctx context.Context, tx bun.Tx, u *User, email string) error) (ProfileResult, error) {
	n := NewUser{Email: in.Email, Name: in.Name}
	if err := n.validateProfile(); err != nil {
		return ProfileResult{}, err
	}
	var res ProfileResult
	err := db.revoking(ctx, func(ctx context.Context, tx bun.Tx) ([]string, error) {
		u := new(User)
		if err := tx.NewSelect().Model(u).Where("id = ?", id).Scan(ctx); err != nil {
			return nil, err
		}
		var detail []string
		q := tx.NewUpdate().Model((*User)(nil)).Set("updated_at = ?", now).Where("id = ?", id)
		if n.Name != u.Name {
			q = q.Set("name = ?", n.Name)
			detail = append(detail, "name")
			u.Name = n.Name
		}
		if n.Email != u.Email {
			taken, err := tx.NewSelect().Model((*User)(nil)).Where("email = ? AND id <> ?", n.Email, id).Exists(ctx)
			if err != nil {
				return nil, err
			}
			if taken {
				return nil, &ConflictError{Message: "email: another user has this email"}
			}
			if in.VerifyEmail {
				detail = append(detail, "email_pending="+n.Email)
				res.PendingEmail = n.Email
			} else {
				q = q.Set("email = ?", n.Email).Set("email_verified_at = NULL")
				detail = append(detail, "email="+u.Email+"→"+n.Email)
				u.Email, u.EmailVerifiedAt = n.Email, nil
			}
		}
		if len(detail) == 0 {
			res.User = u
			return nil, nil // nothing changed: no event
		}
		if _, err := q.Exec(ctx); err != nil {
			return nil, err
		}
		if res.PendingEmail != "" {
			if err := queue(ctx, tx, u, res.PendingEmail); err != nil {
				return nil, err
			}
		}
		res.User = u
		return []string{userMsg(id)}, RecordEvent(ctx, tx, a.event(EventUserUpdated, now, 0, id, strings.Join(detail, " ")))
	})
	if err != nil {
		return ProfileResult{}, Wrap(err, "update user")
	}
	return res, nil
}

// VerifyEmail uses a verification link: the address it was sent to becomes
// the user's email (a change waiting for it applies now) and is marked
// verified. A bad link is ErrBadLink; an address someone took meanwhile is
// a ConflictError.
func VerifyEmail(ctx context.Context, db *DB, raw string, a Audit, now time.Time) (*User, error) {
	var u User
	err := db.revoking(ctx, func(ctx context.Context, tx bun.Tx) ([]string, error) {
		t, err := findUserToken(ctx, tx, db, raw, TokenVerify, now)
		if err != nil {
			return nil, err
		}
		if _, err := tx.NewDelete().Model((*UserToken)(nil)).Where("id = ?", t.ID).Exec(ctx); err != nil {
			return nil, err
		}
		taken, err := tx.NewSelect().Model((*User)(nil)).Where("email = ? AND id <> ?", t.Email, t.UserID).Exists(ctx)
		if err != nil {
			return nil, err
		}
		if taken {
			return nil, &ConflictError{Message: "another account took this email meanwhile: ask an admin"}
		}
		if _, err := tx.NewUpdate().Model((*User)(nil)).Set("email = ?", t.Email).Set("email_verified_at = ?", now).
			Set("updated_at = ?", now).Where("id = ?", t.UserID).Exec(ctx); err != nil {
			return nil, err
		}
		if err := tx.NewSelect().Model(&u).Where("id = ?", t.UserID).Scan(ctx); err != nil {
			return nil, err
		}
		a.ActorID = t.UserID
		return []string{userMsg(t.UserID)}, RecordEvent(ctx, tx, a.event(EventEmailVerified, now, 0, t.UserID, "email="+t.Email))
	})
	if errors.Is(err, ErrBadLink) {
		return nil, ErrBadLink
	}
	if err != nil {
		return nil, Wrap(err, "verify email")
	}
	return &u, nil
}
