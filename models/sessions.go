package models

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"
)

// Proof is how a sign-in proved who the user is: its methods, and whether
// that is a step-up-grade proof — a password and a second factor, or a
// passkey; for a user without a second factor, the password (the most
// such an account can prove).
type Proof struct {
	AMR    AMR
	Strong bool
	// Provider and ProviderSID: the provider that vouched for the user, if
	// any, and its session id for them.
	Provider    string
	ProviderSID string
}

// passwordProof is what CreateSession records: a password
// sign-in of a user without a second factor.
var passwordProof = Proof{AMR: MethodPassword, Strong: true}

// SignInWith is SignIn for a sign-in proved by p.
func (m *SessionManager) SignInWith(ctx context.Context, userID int64, c Client, p Proof) (string, *Session, error) {
	token, err := NewToken()
	if err != nil {
		return "", nil, err
	}
	now := m.Now()
	s, err := m.createSession(ctx, token, userID, m.policy.expiry(now, now), c, p)
	if err != nil {
		return "", nil, err
	}
	return token, s, nil
}

// CreateSession inserts a session for token (stored hashed) and records the
// sign-in event in the same transaction.
func (m *SessionManager) CreateSession(ctx context.Context, token string, userID int64, expires time.Time, c Client) (*Session, error) {
	return m.createSession(ctx, token, userID, expires, c, passwordProof)
}

func (m *SessionManager) createSession(ctx context.Context, token string, userID int64, expires time.Time, c Client, p Proof) (*Session, error) {
	now := m.Now()
	s := &Session{
		TokenHash: HashToken(token), UserID: userID, ExpiresAt: expires.UTC(), CreatedAt: now, LastSeenAt: now,
		IP: clip(c.IP, 64), UserAgent: clip(c.UserAgent, 512), AMR: p.AMR,
		Provider: p.Provider, ProviderSID: clip(p.ProviderSID, 255),
		Country: clip(c.Country, 8), City: clip(c.City, 128),
	}
	if p.Strong {
		s.StrongAt = now
	}
	err := m.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if h := m.OnSignIn.Before; h != nil {
			if err := h(ctx, tx, s); err != nil {
				return err
			}
		}
		if _, err := tx.NewInsert().Model(s).Returning("id").Exec(ctx); err != nil {
			return err
		}
		a := Audit{ActorID: userID, IP: c.IP, UserAgent: c.UserAgent} // a sign-in is the user's own act
		if err := RecordEvent(ctx, tx, a.event(EventSessionCreated, now, s.ID, userID, signInDetail(s))); err != nil {
			return err
		}
		if h := m.OnSignIn.After; h != nil {
			return h(ctx, tx, s)
		}
		return nil
	})
	if err != nil {
		return nil, Wrap(err, "create session")
	}
	return s, nil
}

// GetSession returns the session for token, expired or not.
func (m *SessionManager) GetSession(ctx context.Context, token string) (*Session, error) {
	s := new(Session)
	err := m.db.Read.NewSelect().Model(s).Where("token_hash = ?", HashToken(token)).Scan(ctx)
	if err != nil {
		return nil, Wrap(err, "get session")
	}
	return s, nil
}

// UpdateSession sets the expiry of token's session, only while it is still
// live: a deleted or expired session is never brought back. Like every
// other change to a session it is audited (session.updated) and goes
// through the revocation path, so no cache anywhere keeps the old expiry.
func (m *SessionManager) UpdateSession(ctx context.Context, token string, expires time.Time, a Audit) error {
	if !WellFormedToken(token) {
		return Wrap(ErrNotFound, "update session")
	}
	now := m.Now()
	err := m.db.revoking(ctx, func(ctx context.Context, tx bun.Tx) ([]string, error) {
		var s Session
		err := tx.NewUpdate().Model(&s).
			Set("expires_at = ?", m.db.T(expires)).
			Where("token_hash = ?", HashToken(token)).
			Where("expires_at > ?", m.db.T(now)).
			Returning("id, user_id").Scan(ctx)
		if err != nil {
			return nil, err
		}
		detail := "expires=" + expires.UTC().Format(time.RFC3339)
		return []string{sessionMsg(s.ID)}, RecordEvent(ctx, tx, a.event(EventSessionUpdated, now, s.ID, s.UserID, detail))
	})
	return Wrap(err, "update session")
}

// DeleteSession deletes token's session (sign-out), recording the event.
// It returns how many rows went (0 or 1).
func (m *SessionManager) DeleteSession(ctx context.Context, token string, a Audit) (int, error) {
	return m.deleteOne(ctx, "token_hash = ?", HashToken(token), EventSessionSignedOut, a)
}

// RevokeToken deletes the session of a raw token on an admin's behalf (the
// seed's DELETE with sessionToken). A token no session has, malformed or
// not, is ErrNotFound.
func (m *SessionManager) RevokeToken(ctx context.Context, token string, a Audit) (int, error) {
	if !WellFormedToken(token) && !(m.importedTokens && ImportedTokenShape(token)) {
		return 0, Wrap(ErrNotFound, "revoke session")
	}
	n, err := m.deleteOne(ctx, "token_hash = ?", HashToken(token), EventSessionRevoked, a)
	if err == nil && n == 0 {
		err = Wrap(ErrNotFound, "revoke session")
	}
	return n, err
}

// DeleteSessionByID deletes one session by id (admin or user revoke); an
// unknown id is ErrNotFound. It returns the deleted session.
func (m *SessionManager) DeleteSessionByID(ctx context.Context, id int64, kind string, a Audit) (*Session, error) {
	return m.deleteByID(ctx, id, 0, kind, a)
}

// DeleteUserSession deletes session id only if it belongs to userID (a
// user revoking one of their own devices); another user's session is
// ErrNotFound and stays alive.
func (m *SessionManager) DeleteUserSession(ctx context.Context, userID, id int64, kind string, a Audit) (*Session, error) {
	if userID == 0 {
		return nil, Wrap(ErrNotFound, "delete session")
	}
	return m.deleteByID(ctx, id, userID, kind, a)
}

func (m *SessionManager) deleteByID(ctx context.Context, id, ownerID int64, kind string, a Audit) (*Session, error) {
	gone := new(Session)
	err := m.db.revoking(ctx, func(ctx context.Context, tx bun.Tx) ([]string, error) {
		q := tx.NewDelete().Model(gone).Where("id = ?", id)
		if ownerID != 0 {
			q = q.Where("user_id = ?", ownerID)
		}
		if err := q.Returning("*").Scan(ctx); err != nil {
			return nil, err
		}
		if err := recordEnded(ctx, tx, []string{gone.TokenHash}, gone.UserID, ending{kind, a.ActorID}, m.Now()); err != nil {
			return nil, err
		}
		return []string{gone.TokenHash}, RecordEvent(ctx, tx, a.event(kind, m.Now(), gone.ID, gone.UserID, ""))
	})
	if err != nil {
		return nil, Wrap(err, "delete session")
	}
	return gone, nil
}

func (m *SessionManager) deleteOne(ctx context.Context, where string, arg any, kind string, a Audit) (int, error) {
	n := 0
	err := m.db.revoking(ctx, func(ctx context.Context, tx bun.Tx) ([]string, error) {
		var gone []Session
		if err := tx.NewDelete().Model(&gone).Where(where, arg).Returning("id, user_id, token_hash").Scan(ctx); err != nil && err != sql.ErrNoRows {
			return nil, err
		}
		hashes := make([]string, 0, len(gone))
		for _, s := range gone {
			hashes = append(hashes, s.TokenHash)
			if err := RecordEvent(ctx, tx, a.event(kind, m.Now(), s.ID, s.UserID, "")); err != nil {
				return nil, err
			}
			if kind != EventSessionSignedOut { // signing out clears the cookie: nobody asks why
				if err := recordEnded(ctx, tx, []string{s.TokenHash}, s.UserID, ending{kind, a.ActorID}, m.Now()); err != nil {
					return nil, err
				}
			}
		}
		n = len(gone)
		return hashes, nil
	})
	if err != nil {
		return 0, Wrap(err, "delete session")
	}
	return n, nil
}

// DeleteUserSessions ends every session of a user (force logout) and
// records one event with the count; an unknown user is ErrNotFound.
func (m *SessionManager) DeleteUserSessions(ctx context.Context, userID int64, a Audit) (int, error) {
	return m.DeleteUserSessionsExcept(ctx, userID, 0, EventUserForceLogout, a)
}

// DeleteUserSessionsExcept ends every session of the user but keepID.
func (m *SessionManager) DeleteUserSessionsExcept(ctx context.Context, userID, keepID int64, kind string, a Audit) (int, error) {
	n := 0
	// The kept session is dropped from caches too; its next request reloads it.
	err := m.db.revoking(ctx, func(ctx context.Context, tx bun.Tx) ([]string, error) {
		// No user, no event: the audit trail names only people who exist.
		exists, err := tx.NewSelect().Model((*User)(nil)).Where("id = ?", userID).Exists(ctx)
		if err != nil {
			return nil, err
		}
		if !exists {
			return nil, ErrNotFound
		}
		if n, err = deleteUserSessions(ctx, tx, userID, keepID, ending{kind, a.ActorID}, m.Now()); err != nil {
			return nil, err
		}
		return []string{userMsg(userID)}, RecordEvent(ctx, tx, a.event(kind, m.Now(), 0, userID, fmt.Sprintf("sessions=%d", n)))
	})
	if err != nil {
		return 0, Wrap(err, "delete user sessions")
	}
	return n, nil
}

// deleteUserSessions ends every session of userID but keepID, keeping why.
func deleteUserSessions(ctx context.Context, db bun.IDB, userID, keepID int64, why ending, now time.Time) (int, error) {
	var hashes []string
	q := db.NewDelete().Model((*Session)(nil)).Where("user_id = ?", userID)
	if keepID != 0 {
		q = q.Where("id <> ?", keepID)
	}
	if err := q.Returning("token_hash").Scan(ctx, &hashes); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, Wrap(err, "delete user sessions")
	}
	return len(hashes), Wrap(recordEnded(ctx, db, hashes, userID, why, now), "delete user sessions")
}

// CleanupExpiredSessions deletes every session expired now through the
// cleanup job (m.Cleaner), so these runs too are paced, locked and recorded.
func (m *SessionManager) CleanupExpiredSessions(ctx context.Context) (int, error) {
	if m.Cleaner == nil {
		return 0, errors.New("cleanup expired sessions: no cleanup job (set SessionManager.Cleaner)")
	}
	res, err := m.Cleaner.Run(ctx, TriggerManager, Audit{})
	return res.Deleted, err
}

// GetUserActiveSessions lists the user's unexpired sessions, newest first.
func (m *SessionManager) GetUserActiveSessions(ctx context.Context, userID int64) ([]Session, error) {
	var out []Session
	err := m.db.Read.NewSelect().Model(&out).Where("user_id = ?", userID).
		Where("expires_at > ?", m.db.T(m.Now())).Order("created_at DESC", "id DESC").Scan(ctx)
	return out, Wrap(err, "user active sessions")
}

// GetUserSessionCount counts the user's unexpired sessions.
func (m *SessionManager) GetUserSessionCount(ctx context.Context, userID int64) (int, error) {
	n, err := m.db.Read.NewSelect().Model((*Session)(nil)).Where("user_id = ?", userID).
		Where("expires_at > ?", m.db.T(m.Now())).Count(ctx)
	return int(n), Wrap(err, "user session count")
}

// RotateToken gives a live session a new token (after a password change)
// and returns it; the old token stops working at once.
func (m *SessionManager) RotateToken(ctx context.Context, sessionID int64) (string, error) {
	token, err := NewToken()
	if err != nil {
		return "", err
	}
	err = m.db.revoking(ctx, func(ctx context.Context, tx bun.Tx) ([]string, error) {
		res, err := tx.NewUpdate().Model((*Session)(nil)).Set("token_hash = ?", HashToken(token)).
			Where("id = ?", sessionID).Where("expires_at > ?", m.db.T(m.Now())).Exec(ctx)
		return []string{sessionMsg(sessionID)}, affectedOne(res, err, "rotate session token")
	})
	if err != nil {
		return "", err
	}
	return token, nil
}

// SessionStrongAt is when the session last gave a step-up-grade proof
// (zero when never); ErrNotFound for a session that is gone. Step-up reads
// it from the database on the few routes that need it, so the per-request
// lookup and cache carry no more than they did.
func (m *SessionManager) SessionStrongAt(ctx context.Context, sessionID int64) (time.Time, error) {
	s := new(Session)
	err := m.db.NewSelect().Model(s).Column("id", "strong_at").Where("id = ?", sessionID).Scan(ctx)
	return s.StrongAt, Wrap(err, "session strong_at")
}

// MarkStrong records a step-up-grade proof given inside the session now
// (re-authentication), with the methods in the audit trail.
func (m *SessionManager) MarkStrong(ctx context.Context, sessionID, userID int64, methods AMR, a Audit) error {
	now := m.Now()
	err := m.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		res, err := tx.NewUpdate().Model((*Session)(nil)).Set("strong_at = ?", now).
			Where("id = ? AND expires_at > ?", sessionID, m.db.T(now)).Exec(ctx)
		if err := affectedOne(res, err, "mark strong"); err != nil {
			return err
		}
		return RecordEvent(ctx, tx, a.event(EventStepUp, now, sessionID, userID, "methods="+string(methods)))
	})
	return Wrap(err, "mark strong")
}
