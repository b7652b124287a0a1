package models

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/uptrace/bun"
)

// TokenLen is the length of an issued token: 32 random bytes, base64url.
const TokenLen = 43

// Session is one sign-in. The row holds only the SHA-256 of the token.
type Session struct {
	bun.BaseModel `bun:"table:sessions,alias:s"`

	ID         int64     `bun:"id,pk,autoincrement"`
	TokenHash  string    `bun:"token_hash"`
	UserID     int64     `bun:"user_id"`
	ExpiresAt  time.Time `bun:"expires_at"`
	CreatedAt  time.Time `bun:"created_at"`
	LastSeenAt time.Time `bun:"last_seen_at"`
	IP         string    `bun:"ip"`
	UserAgent  string    `bun:"user_agent"`
	AMR        AMR       `bun:"amr"`                // how it was made
	StrongAt   time.Time `bun:"strong_at,nullzero"` // its last step-up-grade proof (see Proof)
	Country    string    `bun:"country"`            // ISO code from GEOIP_DB at sign-in, "" when unknown
	City       string    `bun:"city"`               // English name, "" when unknown
	Flags      string    `bun:"signin_flags"`       // new-device, new-country: see SignInHook
	User       *User     `bun:"rel:belongs-to,join:user_id=id"`

	// The provider signed in through, if any, and its own session id (an
	// ID token's sid), which its back-channel logout may name.
	Provider    string `bun:"provider"`
	ProviderSID string `bun:"provider_sid"`
}

// Expired reports whether the session is past its expiry at now; a session
// expiring exactly now is expired.
func (s *Session) Expired(now time.Time) bool { return !s.ExpiresAt.After(now) }

// ShortHash is what admins see instead of a token: a prefix of its hash.
func (s *Session) ShortHash() string {
	if len(s.TokenHash) < 12 {
		return s.TokenHash
	}
	return s.TokenHash[:12]
}

// Policy is the session lifetime configuration (Auth.js's database strategy
// plus an absolute cap and a touch interval).
type Policy struct {
	MaxAge           time.Duration // idle lifetime after the last extension
	UpdateAge        time.Duration // extend at most this often
	AbsoluteLifetime time.Duration // 0: no cap
	TouchInterval    time.Duration // last_seen_at/ip/user_agent at most this often
}

// due is what a session with these times needs at now: refused (expired,
// or past its absolute lifetime), an extension (updateAge has passed since
// the last one) or a touch (the touch interval has passed since it was last
// seen). Validate acts on it; a cached session answers a request only when
// it is due nothing.
func (p Policy) due(expires, created, seen, now time.Time) (refuse, extend, touch bool) {
	refuse = !expires.After(now) || (p.AbsoluteLifetime > 0 && !created.Add(p.AbsoluteLifetime).After(now))
	extend = !expires.Add(-p.MaxAge).Add(p.UpdateAge).After(now)
	touch = now.Sub(seen) >= p.TouchInterval
	return refuse, extend, touch
}

// DefaultPolicy is Auth.js's: 30 days, extended at most daily.
var DefaultPolicy = Policy{MaxAge: 30 * 24 * time.Hour, UpdateAge: 24 * time.Hour, TouchInterval: 5 * time.Minute}

// Client is where a request came from.
type Client struct {
	IP        string
	UserAgent string
	Country   string // where IP is, when known; recorded at sign-in only
	City      string
}

// SignInHook runs inside the transaction that creates a session, so what
// it records or queues (an audit mark, an alert mail) exists exactly when
// the session does. It may set s.Flags before the row is written.
type SignInHook struct {
	Before func(ctx context.Context, tx bun.Tx, s *Session) error
	After  func(ctx context.Context, tx bun.Tx, s *Session) error
}

// SessionManager implements the seed's session operations plus the sliding
// expiry of every authenticated request. It owns the hot path
// (authenticate.go): the cache of validated sessions and the database's
// lookup, so every revocation reaches the cache through it (forget).
type SessionManager struct {
	db     *DB
	policy Policy
	now    func() time.Time
	cache  *SessionCache                  // nil: no cache
	lookup sessionLookup                  // lookup_sqlite.go or lookup_postgres.go
	feed   atomic.Pointer[revocationFeed] // set by the first WatchRevocations
	// importedTokens: Authenticate also takes imported Auth.js tokens.
	importedTokens bool

	// Counters of conditional UPDATEs that took effect; benchmarks and tests
	// prove refreshes write at most once per UpdateAge with them.
	ExtendWrites atomic.Int64
	TouchWrites  atomic.Int64
	// Session lookups that went to the database (see LookupQueries).
	Lookups atomic.Int64

	// OnSignIn runs in every session-creating transaction; set it before
	// serving.
	OnSignIn SignInHook
	// Cleaner is the cleanup job (jobs.Cleanup), which models cannot
	// import; CleanupExpiredSessions runs it.
	Cleaner Cleaner
}

// Cleaner runs one cleanup for trigger on behalf of by.
type Cleaner interface {
	Run(ctx context.Context, trigger string, by Audit) (CleanupResult, error)
}

// NewSessionManager prepares the per-request lookup for db's dialect. now
// is the clock; tests inject one.
func NewSessionManager(ctx context.Context, db *DB, p Policy, now func() time.Time) (*SessionManager, error) {
	if now == nil {
		now = time.Now
	}
	l, err := newLookup(ctx, db)
	if err != nil {
		return nil, Wrap(err, "prepare session lookup")
	}
	return &SessionManager{db: db, policy: p, now: now, lookup: l}, nil
}

// Close releases the lookup's statements and connections.
func (m *SessionManager) Close() error { return m.lookup.Close() }

// LookupQueries is how many queries the database lookups took: one each
// on SQLite, fewer on PostgreSQL, where lookups that arrive together share one.
func (m *SessionManager) LookupQueries() int64 { return m.lookup.queries() }

// Policy returns the lifetime configuration in force.
func (m *SessionManager) Policy() Policy { return m.policy }

// Now is the manager's clock, truncated to what the database stores.
func (m *SessionManager) Now() time.Time { return m.now().UTC().Truncate(time.Microsecond) }

// NewToken returns 32 random bytes, base64url-encoded.
func NewToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// HashToken is what the database stores for a token.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// WellFormedToken reports whether token could have been issued by NewToken;
// anything else is "not signed in" without a database round trip.
func WellFormedToken(token string) bool {
	if len(token) != TokenLen {
		return false
	}
	for i := 0; i < len(token); i++ {
		c := token[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// newExpiry is now+MaxAge, never past the absolute cap.
func (m *SessionManager) newExpiry(createdAt, now time.Time) time.Time {
	exp := now.Add(m.policy.MaxAge)
	if m.policy.AbsoluteLifetime > 0 {
		if limit := createdAt.Add(m.policy.AbsoluteLifetime); exp.After(limit) {
			exp = limit
		}
	}
	return exp
}

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

// passwordProof is what SignIn and CreateSession record: a password
// sign-in of a user without a second factor.
var passwordProof = Proof{AMR: MethodPassword, Strong: true}

// SignIn creates a fresh session for the user after a password sign-in
// and returns its token; the token exists only in the return value (and
// so in the cookie).
func (m *SessionManager) SignIn(ctx context.Context, userID int64, c Client) (string, *Session, error) {
	return m.SignInWith(ctx, userID, c, passwordProof)
}

// SignInWith is SignIn for a sign-in proved by p.
func (m *SessionManager) SignInWith(ctx context.Context, userID int64, c Client, p Proof) (string, *Session, error) {
	token, err := NewToken()
	if err != nil {
		return "", nil, err
	}
	now := m.Now()
	s, err := m.createSession(ctx, token, userID, m.newExpiry(now, now), c, p)
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
