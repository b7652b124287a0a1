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
// expiry of every authenticated request.
type SessionManager struct {
	db     *DB
	policy Policy
	now    func() time.Time
	lookup *pgLookup // PostgreSQL; SQLite has DB.sqliteLookup
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
}

// lookupSQL is the per-request query: hand-written and prepared, because
// bun inlines argument values and PostgreSQL could never reuse a plan. It
// has no expiry bound (the check is done in Go), so SQLite's STAT4 samples
// can never make it recompile per value. It reads what a request needs and
// the session cache holds — no address, agent or user timestamps, which
// the list queries read where they are shown.
const lookupSQL = `SELECT s.id, s.user_id, s.expires_at, s.created_at, s.last_seen_at, u.email, u.name, u.role, s.amr
FROM sessions s JOIN users u ON u.id = s.user_id
WHERE s.token_hash = ?`

// lookupSQLite is lookupSQL with the times read as text: modernc's driver
// would otherwise parse each TIMESTAMP column with time.Parse, a third of
// the lookup's cost; parseStoredTime reads the one format bun writes.
const lookupSQLite = `SELECT s.id, s.user_id, CAST(s.expires_at AS TEXT), CAST(s.created_at AS TEXT), CAST(s.last_seen_at AS TEXT),
	u.email, u.name, u.role, s.amr
FROM sessions s JOIN users u ON u.id = s.user_id
WHERE s.token_hash = ?`

// NewSessionManager prepares the lookup statements on PostgreSQL (SQLite's
// lookup is the DB's, see sqliteLookup). now is the clock; tests inject one.
func NewSessionManager(ctx context.Context, db *DB, p Policy, now func() time.Time) (*SessionManager, error) {
	if now == nil {
		now = time.Now
	}
	m := &SessionManager{db: db, policy: p, now: now}
	if db.sqliteLookup == nil {
		l, err := preparePgLookup(ctx, db)
		if err != nil {
			return nil, Wrap(err, "prepare session lookup")
		}
		m.lookup = l
	}
	return m, nil
}

// Close releases the prepared statements.
func (m *SessionManager) Close() error {
	if m.lookup == nil {
		return nil
	}
	return m.lookup.Close()
}

// LookupQueries is how many queries the database lookups took: one each
// on SQLite, fewer on PostgreSQL, where lookups that arrive together share one.
func (m *SessionManager) LookupQueries() int64 {
	if m.lookup == nil {
		return m.Lookups.Load()
	}
	return m.lookup.queries.Load()
}

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

// GetSessionWithUser is the per-request lookup: one prepared query. It
// returns the session whether or not it has expired; ErrNotFound for a
// token never issued (or malformed, without asking the database). The
// session comes with its id, user, times and amr, its user with id,
// email, name and role (lookupSQL says why no more).
func (m *SessionManager) GetSessionWithUser(ctx context.Context, token string) (*Session, error) {
	if !WellFormedToken(token) {
		return nil, Wrap(ErrNotFound, "get session with user")
	}
	return m.GetSessionWithUserByHash(ctx, HashToken(token))
}

// GetSessionWithUserByHash is GetSessionWithUser for a hash already computed.
func (m *SessionManager) GetSessionWithUserByHash(ctx context.Context, hash string) (*Session, error) {
	p := &cachedSession{} // the session and its user in one allocation
	s, u := &p.s, &p.u
	s.TokenHash, s.User = hash, u
	var err error
	m.Lookups.Add(1)
	if m.db.sqliteLookup != nil {
		err = m.db.sqliteLookup.get(ctx, hash, s, u)
	} else {
		err = m.lookup.get(ctx, hash, s, u)
	}
	if err != nil {
		return nil, Wrap(err, "get session with user")
	}
	u.ID = s.UserID
	return s, nil
}

// UpdateSession sets the expiry of token's session, only while it is still
// live: a deleted or expired session is never brought back.
func (m *SessionManager) UpdateSession(ctx context.Context, token string, expires time.Time) error {
	res, err := m.db.NewUpdate().Model((*Session)(nil)).
		Set("expires_at = ?", m.db.T(expires)).
		Where("token_hash = ?", HashToken(token)).
		Where("expires_at > ?", m.db.T(m.Now())).
		Exec(ctx)
	return affectedOne(res, err, "update session")
}

// DeleteSession deletes token's session (sign-out), recording the event.
// It returns how many rows went (0 or 1).
func (m *SessionManager) DeleteSession(ctx context.Context, token string, a Audit) (int, error) {
	return m.deleteOne(ctx, "token_hash = ?", HashToken(token), EventSessionSignedOut, a)
}

// RevokeToken deletes the session of a raw token on an admin's behalf (the
// seed's DELETE with sessionToken); 0 when no session has that token.
func (m *SessionManager) RevokeToken(ctx context.Context, token string, a Audit) (int, error) {
	if !WellFormedToken(token) {
		return 0, nil
	}
	return m.deleteOne(ctx, "token_hash = ?", HashToken(token), EventSessionRevoked, a)
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
// records one event with the count.
func (m *SessionManager) DeleteUserSessions(ctx context.Context, userID int64, a Audit) (int, error) {
	return m.DeleteUserSessionsExcept(ctx, userID, 0, EventUserForceLogout, a)
}

// DeleteUserSessionsExcept ends every session of the user but keepID.
func (m *SessionManager) DeleteUserSessionsExcept(ctx context.Context, userID, keepID int64, kind string, a Audit) (int, error) {
	n := 0
	// The kept session is dropped from caches too; its next request reloads it.
	err := m.db.revoking(ctx, func(ctx context.Context, tx bun.Tx) ([]string, error) {
		var err error
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

// CleanupExpiredSessions deletes every session expired at now, in batches
// of 10,000, and returns how many went. The cleanup job uses
// DeleteExpiredBatch directly to pace itself and report progress.
func (m *SessionManager) CleanupExpiredSessions(ctx context.Context) (int, error) {
	now := m.Now()
	total := 0
	for {
		n, err := DeleteExpiredBatch(ctx, m.db, now, 10000)
		total += n
		if err != nil || n < 10000 {
			return total, err
		}
	}
}

// DeleteExpiredBatch deletes at most limit sessions with expires_at ≤ now
// in one short statement and returns how many it deleted.
func DeleteExpiredBatch(ctx context.Context, db *DB, now time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, Invalid("limit", "must be positive")
	}
	return deleteExpiredBatchOn(ctx, db, db, now, limit)
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

// Validation is the outcome of checking a request's session.
type Validation struct {
	Session  *Session // with User
	Extended bool     // expiry moved: the cookie must be re-issued
}

// Validate is the sliding expiry of every authenticated request: refuse an
// expired session (leaving its row for the admin list), and when updateAge
// has passed extend it — or when the touch interval has passed record
// last_seen_at, ip and user agent — in one conditional UPDATE that never
// resurrects a deleted row. ErrNotFound means "not signed in".
//
// client is asked for the request's IP and user agent only when a write is
// due: most requests write nothing and need neither, and building them
// (the peer address as a string, the header copied out of the request) was
// a fifth of what a cached request cost in the middleware.
func (m *SessionManager) Validate(ctx context.Context, s *Session, client func() Client) (Validation, error) {
	now := m.Now()
	refuse, extendDue, touch := m.policy.due(s.ExpiresAt, s.CreatedAt, s.LastSeenAt, now)
	if refuse {
		return Validation{}, Wrap(ErrNotFound, "session expired")
	}
	newExp := s.ExpiresAt
	if extendDue {
		newExp = m.newExpiry(s.CreatedAt, now)
	}
	extend := newExp.After(s.ExpiresAt) // the absolute cap may leave nothing to extend
	if !extend && !touch {
		return Validation{Session: s}, nil
	}
	c := client()
	seen, ip, ua := s.LastSeenAt, s.IP, s.UserAgent
	if touch {
		seen, ip, ua = now, clip(c.IP, 64), clip(c.UserAgent, 512)
	}
	err := m.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		// Set only what this request changes: s may be stale, and writing
		// its old expiry back would undo a concurrent extension.
		q := tx.NewUpdate().Model((*Session)(nil))
		if extend {
			q = q.Set("expires_at = ?", m.db.T(newExp))
		}
		if touch {
			q = q.Set("last_seen_at = ?", m.db.T(seen)).Set("ip = ?", ip).Set("user_agent = ?", ua)
		}
		res, err := q.Where("id = ?", s.ID).Where("expires_at > ?", m.db.T(now)).Exec(ctx)
		if err := affectedOne(res, err, "update session"); err != nil { // wrapped as "refresh session" below
			return err
		}
		if !extend {
			return nil
		}
		return RecordEvent(ctx, tx, Audit{ActorID: s.UserID, IP: c.IP, UserAgent: c.UserAgent}.event(EventSessionExtended, now, s.ID, s.UserID, ""))
	})
	if err != nil {
		return Validation{}, Wrap(err, "refresh session")
	}
	if extend {
		m.ExtendWrites.Add(1)
	} else {
		m.TouchWrites.Add(1)
	}
	fresh := *s
	fresh.ExpiresAt, fresh.LastSeenAt, fresh.IP, fresh.UserAgent = newExp, seen, ip, ua
	return Validation{Session: &fresh, Extended: extend}, nil
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

// Authenticate is the whole per-request check: the session cache, else the
// prepared lookup and Validate. ErrNotFound means "not signed in".
//
// A cache hit is used only while the session needs no write: unexpired,
// within its absolute lifetime, no extension due (updateAge) and no touch
// due (touch interval). Anything else goes to the database, so refresh
// writes stay at most one per session per updateAge window.
//
// client is passed on to Validate, which asks for it only when it writes.
func (m *SessionManager) Authenticate(ctx context.Context, token string, client func() Client) (Validation, error) {
	if !WellFormedToken(token) {
		if m.importedTokens && ImportedTokenShape(token) {
			key := sha256.Sum256([]byte(token))
			return m.authenticate(ctx, &key, client)
		}
		return Validation{}, Wrap(ErrNotFound, "get session with user")
	}
	var buf [TokenLen]byte
	copy(buf[:], token)
	key := sha256.Sum256(buf[:])
	return m.authenticate(ctx, &key, client)
}

// AcceptImportedTokens makes Authenticate look up tokens of the shape an
// imported Auth.js session has, besides sessiond's own; call it before
// serving. A token of neither shape still never reaches the database.
func (m *SessionManager) AcceptImportedTokens() { m.importedTokens = true }

func (m *SessionManager) authenticate(ctx context.Context, key *[32]byte, client func() Client) (Validation, error) {
	now := m.Now()
	cache := m.db.cache
	if cache != nil {
		if e, ok := cache.lookup(key, now.UnixMicro()); ok && m.fresh(&e, now) {
			return Validation{Session: e.session()}, nil
		}
	}
	gen := cache.Generation()
	s, err := m.GetSessionWithUserByHash(ctx, hashString(key))
	if err != nil {
		return Validation{}, err
	}
	v, err := m.Validate(ctx, s, client)
	if err == nil {
		cache.store(key, v.Session, gen, now)
	}
	return v, err
}

// fresh reports whether a cached session may answer a request at now
// without the database: Validate would neither refuse it nor write.
func (m *SessionManager) fresh(e *cacheEntry, now time.Time) bool {
	refuse, extend, touch := m.policy.due(time.UnixMicro(e.expires), time.UnixMicro(e.created), time.UnixMicro(e.seen), now)
	return !refuse && !extend && !touch
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
