package models

import (
	"context"
	"crypto/sha256"
	"time"

	"github.com/uptrace/bun"
)

// sessionLookup is the per-request query of a session and its user by
// token hash, one implementation per dialect, each beside its SQL.
type sessionLookup interface {
	// get reads the session with token hash hash (and its user) into s
	// and u; sql.ErrNoRows when there is none.
	get(ctx context.Context, hash string, s *Session, u *User) error
	queries() int64 // database queries run so far
	Close() error
}

func newLookup(ctx context.Context, db *DB) (sessionLookup, error) {
	if db.Kind == SQLite {
		return newSQLiteLookup(db), nil
	}
	return preparePgLookup(ctx, db)
}

// SetCache makes c the cache of validated sessions (nil: none). Call it
// before serving: from then on every revocation committed through db
// drops from c.
func (m *SessionManager) SetCache(c *SessionCache) {
	m.cache = c
	m.db.forget = m.forget
}

// Cache is the cache in use, nil when there is none.
func (m *SessionManager) Cache() *SessionCache { return m.cache }

// forget is the one way a revocation reaches the cache: it drops what
// each message names (see SessionCache.Apply).
func (m *SessionManager) forget(msgs []string) {
	for _, msg := range msgs {
		m.cache.Apply(msg)
	}
}

// GetSessionWithUser is the per-request lookup: one prepared query. It
// returns the session whether or not it has expired; ErrNotFound for a
// token never issued (or malformed, without asking the database). The
// session comes with its id, user, times and amr, its user with id,
// email, name and role (the lookup's SQL says why no more).
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
	m.Lookups.Add(1)
	if err := m.lookup.get(ctx, hash, s, u); err != nil {
		return nil, Wrap(err, "get session with user")
	}
	u.ID = s.UserID
	return s, nil
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
		newExp = m.policy.expiry(s.CreatedAt, now)
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
	var err error
	if extend {
		err = m.extend(ctx, s, newExp, touch, seen, ip, ua, c, now)
	} else if t := (lastSeen{id: s.ID, seen: seen, ip: ip, ua: ua}); !m.behind.queue(t) {
		// Written now, unless a serving process writes touches behind: a
		// commit per touch stalls SQLite's readers, and last seen is what
		// the console shows, not what admits.
		err = m.writeTouch(ctx, t)
	}
	if err != nil {
		return Validation{}, Wrap(err, "refresh session")
	}
	if extend {
		m.ExtendWrites.Add(1)
	}
	fresh := *s
	fresh.ExpiresAt, fresh.LastSeenAt, fresh.IP, fresh.UserAgent = newExp, seen, ip, ua
	return Validation{Session: &fresh, Extended: extend}, nil
}

// extend moves the session's expiry to newExp (the sliding refresh, once
// per UpdateAge), with its touch when one is due too, and records it.
func (m *SessionManager) extend(ctx context.Context, s *Session, newExp time.Time, touch bool, seen time.Time, ip, ua string, c Client, now time.Time) error {
	return m.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		// Set only what this request changes: s may be stale, and writing
		// its old expiry back would undo a concurrent extension.
		q := tx.NewUpdate().Model((*Session)(nil)).Set("expires_at = ?", m.db.T(newExp))
		if touch {
			q = q.Set("last_seen_at = ?", m.db.T(seen)).Set("ip = ?", ip).Set("user_agent = ?", ua)
		}
		res, err := q.Where("id = ?", s.ID).Where("expires_at > ?", m.db.T(now)).Exec(ctx)
		if err := affectedOne(res, err, "update session"); err != nil { // wrapped as "refresh session" by Validate
			return err
		}
		return RecordEvent(ctx, tx, Audit{ActorID: s.UserID, IP: c.IP, UserAgent: c.UserAgent}.event(EventSessionExtended, now, s.ID, s.UserID, ""))
	})
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
	cache := m.cache
	if cache != nil && m.trusted() {
		if e, ok := cache.lookup(key, now.UnixMicro()); ok {
			refuse, extend, touch := m.policy.due(time.UnixMicro(e.expires), time.UnixMicro(e.created), time.UnixMicro(e.seen), now)
			if !refuse && !extend && (!touch || m.touchBehind(cache, key, &e, now, client)) {
				return Validation{Session: e.session()}, nil
			}
			cache.countDue()
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

// touchBehind answers a cached session due only a touch from the cache,
// its touch queued for the next write behind (when one runs): the entry
// is marked seen at now, so the session's next requests are plain hits.
func (m *SessionManager) touchBehind(cache *SessionCache, key *[32]byte, e *cacheEntry, now time.Time, client func() Client) bool {
	c := client()
	if !m.behind.queue(lastSeen{id: e.sessionID, seen: now, ip: clip(c.IP, 64), ua: clip(c.UserAgent, 512)}) {
		return false
	}
	e.seen = now.UnixMicro()
	cache.markSeen(key, e.sessionID, e.seen)
	return true
}
