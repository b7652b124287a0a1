package models

import (
	"context"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/uptrace/bun"
)

// Roles a user can have.
const (
	RoleUser  = "user"
	RoleAdmin = "admin"
)

// User is an account that can sign in.
type User struct {
	bun.BaseModel `bun:"table:users"`

	ID           int64     `bun:"id,pk,autoincrement" json:"id"`
	Email        string    `bun:"email" json:"email"`
	Name         string    `bun:"name" json:"name"`
	Role         string    `bun:"role" json:"role"`
	PasswordHash string    `bun:"password_hash" json:"-"`
	CreatedAt    time.Time `bun:"created_at" json:"createdAt"`
	UpdatedAt    time.Time `bun:"updated_at" json:"updatedAt"`
	// DisabledAt: when an admin disabled the account (nil: active).
	DisabledAt      *time.Time `bun:"disabled_at" json:"disabledAt"`
	EmailVerifiedAt *time.Time `bun:"email_verified_at" json:"emailVerifiedAt"`
	SignInAlerts    bool       `bun:"signin_alerts" json:"signInAlerts"`
	// GroupNames are the user's groups as stored: sorted, joined by commas.
	GroupNames string `bun:"group_names" json:"-"`
}

// HasPassword reports whether the user can sign in with a password (one
// who signed up through a provider has none until they set one).
func (u *User) HasPassword() bool { return u.PasswordHash != "" }

// Disabled reports whether an admin has disabled the account.
func (u *User) Disabled() bool { return u.DisabledAt != nil }

// IsAdmin reports whether the user holds the admin role.
func (u *User) IsAdmin() bool { return u.Role == RoleAdmin }

// NewUser is what creating an account takes.
type NewUser struct {
	Email    string
	Name     string
	Role     string
	Password string
	// EmailVerified: the creator vouches for the address (the first admin,
	// the command line); an admin's typing does not.
	EmailVerified bool
}

// NormalizeEmail is the one form emails are stored and looked up in.
func NormalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// ValidRole reports whether role is one sessiond knows.
func ValidRole(role string) bool { return role == RoleUser || role == RoleAdmin }

func (n *NewUser) validate() error {
	if err := n.validateProfile(); err != nil {
		return err
	}
	return CheckPassword(n.Password)
}

// validateProfile checks and normalises everything but the password.
func (n *NewUser) validateProfile() error {
	n.Email = NormalizeEmail(n.Email)
	n.Name = strings.TrimSpace(n.Name)
	if n.Role == "" {
		n.Role = RoleUser
	}
	switch {
	case n.Email == "" || len(n.Email) > 254:
		return Invalid("email", "is required (at most 254 characters)")
	case !validEmail(n.Email):
		return Invalid("email", "is not a valid email address")
	case n.Name == "" || len(n.Name) > 200:
		return Invalid("name", "is required (at most 200 characters)")
	case !ValidRole(n.Role):
		return Invalid("role", "must be user or admin")
	}
	return nil
}

func validEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s && strings.Contains(s, "@")
}

// CreateUser validates n, hashes the password and inserts the user.
// A taken email is ErrConflict.
func CreateUser(ctx context.Context, db bun.IDB, n NewUser, now time.Time) (*User, error) {
	if err := n.validate(); err != nil {
		return nil, err
	}
	hash, err := HashPassword(n.Password)
	if err != nil {
		return nil, err
	}
	u := &User{Email: n.Email, Name: n.Name, Role: n.Role, PasswordHash: hash, CreatedAt: now, UpdatedAt: now, SignInAlerts: true}
	if n.EmailVerified {
		u.EmailVerifiedAt = &now
	}
	if _, err := db.NewInsert().Model(u).Returning("id").Exec(ctx); err != nil {
		return nil, Wrap(err, "create user")
	}
	return u, nil
}

// FindUserByEmail returns ErrNotFound for an unknown email.
func FindUserByEmail(ctx context.Context, db bun.IDB, email string) (*User, error) {
	u := new(User)
	err := db.NewSelect().Model(u).Where("email = ?", NormalizeEmail(email)).Limit(1).Scan(ctx)
	if err != nil {
		return nil, Wrap(err, "find user by email")
	}
	return u, nil
}

// FindUser returns ErrNotFound for an unknown id.
func FindUser(ctx context.Context, db bun.IDB, id int64) (*User, error) {
	u := new(User)
	if err := db.NewSelect().Model(u).Where("id = ?", id).Scan(ctx); err != nil {
		return nil, Wrap(err, "find user")
	}
	return u, nil
}

// CountAdmins tells whether the first-admin setup is still open.
func CountAdmins(ctx context.Context, db bun.IDB) (int, error) {
	n, err := db.NewSelect().Model((*User)(nil)).Where("role = ?", RoleAdmin).Count(ctx)
	return int(n), Wrap(err, "count admins")
}

// DeleteUser removes the user; their sessions go with them (ON DELETE
// CASCADE). It records one user.deleted event and returns how many sessions
// ended. Unknown id is ErrNotFound.
func DeleteUser(ctx context.Context, db *DB, id int64, a Audit, now time.Time) (int, error) {
	var ended int
	err := db.revoking(ctx, func(ctx context.Context, tx bun.Tx) ([]string, error) {
		if err := keepAnActiveAdmin(ctx, tx, id, "deleted"); err != nil {
			return nil, err
		}
		n, err := tx.NewSelect().Model((*Session)(nil)).Where("user_id = ?", id).Count(ctx)
		if err != nil {
			return nil, err
		}
		res, err := tx.NewDelete().Model((*User)(nil)).Where("id = ?", id).Exec(ctx)
		if err := affectedOne(res, err, "delete user"); err != nil {
			return nil, err
		}
		ended = int(n)
		return []string{userMsg(id)}, RecordEvent(ctx, tx, a.event(EventUserDeleted, now, 0, id, fmt.Sprintf("sessions=%d", ended)))
	})
	if err != nil {
		return 0, Wrap(err, "delete user")
	}
	return ended, nil
}

// SetUserRole changes the role and ends all of the user's sessions in one
// transaction (a demoted admin's next request is refused), returning how
// many sessions ended.
func SetUserRole(ctx context.Context, db *DB, id int64, role string, a Audit, now time.Time) (int, error) {
	if !ValidRole(role) {
		return 0, Invalid("role", "must be user or admin")
	}
	var ended int
	err := db.revoking(ctx, func(ctx context.Context, tx bun.Tx) ([]string, error) {
		if role != RoleAdmin {
			if err := keepAnActiveAdmin(ctx, tx, id, "demoted"); err != nil {
				return nil, err
			}
		}
		res, err := tx.NewUpdate().Model((*User)(nil)).Set("role = ?", role).Set("updated_at = ?", now).
			Where("id = ?", id).Exec(ctx)
		if err := affectedOne(res, err, "set role"); err != nil {
			return nil, err
		}
		if ended, err = deleteUserSessions(ctx, tx, id, 0, ending{EventUserRoleChanged, a.ActorID}, now); err != nil {
			return nil, err
		}
		return []string{userMsg(id)}, RecordEvent(ctx, tx, a.event(EventUserRoleChanged, now, 0, id, fmt.Sprintf("role=%s sessions=%d", role, ended)))
	})
	if err != nil {
		return 0, Wrap(err, "set role")
	}
	return ended, nil
}

// SetUserPassword stores a new hash, voids the user's reset links and ends
// every session of the user but keepSessionID (0 ends all), returning how
// many ended.
func SetUserPassword(ctx context.Context, db *DB, id int64, password string, keepSessionID int64, a Audit, now time.Time) (int, error) {
	hash, err := HashPassword(password)
	if err != nil {
		return 0, err
	}
	var ended int
	err = db.revoking(ctx, func(ctx context.Context, tx bun.Tx) ([]string, error) {
		if ended, err = setPasswordTx(ctx, tx, id, hash, keepSessionID, now); err != nil {
			return nil, err
		}
		return []string{userMsg(id)}, RecordEvent(ctx, tx, a.event(EventPasswordChanged, now, keepSessionID, id, fmt.Sprintf("sessions=%d", ended)))
	})
	if err != nil {
		return 0, Wrap(err, "set password")
	}
	return ended, nil
}

// UserWithCounts is a user row for the admin's users list.
type UserWithCounts struct {
	User
	ActiveSessions  int       `bun:"active_sessions" json:"activeSessions"`
	ExpiredSessions int       `bun:"expired_sessions" json:"expiredSessions"`
	LastSeenAt      time.Time `bun:"last_seen_at" json:"-"` // latest of their sessions; zero when none
}

// ListUsers returns users matching q (name or email, literally), newest
// first, with their session counts.
func ListUsers(ctx context.Context, db *DB, q string, limit, offset int, now time.Time) ([]UserWithCounts, int, error) {
	return ListUsersWhere(ctx, db, UserListFilter{Q: q, Limit: limit, Offset: offset}, now)
}

// UserListFilter narrows the users list: a search, a role ("" for any).
type UserListFilter struct {
	Q, Role       string
	Limit, Offset int
}

// ListUsersWhere is ListUsers with a role filter.
func ListUsersWhere(ctx context.Context, db *DB, f UserListFilter, now time.Time) ([]UserWithCounts, int, error) {
	var rows []UserWithCounts
	sel := db.Read.NewSelect().Model(&rows).
		ColumnExpr("u.*").
		ColumnExpr("(SELECT COUNT(*) FROM sessions s WHERE s.user_id = u.id AND s.expires_at > ?) AS active_sessions", db.T(now)).
		ColumnExpr("(SELECT COUNT(*) FROM sessions s WHERE s.user_id = u.id AND s.expires_at <= ?) AS expired_sessions", db.T(now)).
		ColumnExpr("(SELECT MAX(s.last_seen_at) FROM sessions s WHERE s.user_id = u.id) AS last_seen_at").
		ModelTableExpr("users AS u")
	if f.Q != "" {
		pat := LikePattern(f.Q)
		sel = sel.Where("(LOWER(u.name) LIKE ? ESCAPE '\\' OR u.email LIKE ? ESCAPE '\\')", pat, pat)
	}
	if f.Role != "" {
		sel = sel.Where("u.role = ?", f.Role)
	}
	total, err := sel.Order("u.created_at DESC", "u.id DESC").Limit(int64(f.Limit)).Offset(int64(f.Offset)).ScanAndCount(ctx)
	if err != nil {
		return nil, 0, Wrap(err, "list users")
	}
	return rows, int(total), nil
}

// LikePattern makes a case-insensitive LIKE pattern that matches q
// literally: %, _ and \ in q are escaped (with ESCAPE '\').
func LikePattern(q string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(strings.ToLower(q)) + "%"
}

func affectedOne(res interface{ RowsAffected() (int64, error) }, err error, op string) error {
	if err != nil {
		return Wrap(err, op)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return Wrap(err, op)
	}
	if n == 0 {
		return Wrap(ErrNotFound, op)
	}
	return nil
}
