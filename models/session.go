package models

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/uptrace/bun"
)

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
	behind touchesBehind                  // touches a serving process writes about once a second
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

// Now is the manager's clock, truncated to what the database stores.
func (m *SessionManager) Now() time.Time { return m.now().UTC().Truncate(time.Microsecond) }
