package models

import (
	"context"
	"database/sql"
	"sync/atomic"
	"time"
)

// BackendPID is the PostgreSQL backend the listener is subscribed on.
func (l *RevocationListener) BackendPID() uint32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pid
}

// Trusted reports whether the cache may answer (the log was read lately).
func (m *SessionManager) Trusted() bool { return m.trusted() }

// UsePlainLookup replaces the lookup with its plain form, for benchmarks
// that weigh the hand-rolled ones: on SQLite a database/sql statement
// prepared on the read pool; on PostgreSQL the same statements without the
// batching queue (every lookup its own query at once).
func (m *SessionManager) UsePlainLookup(ctx context.Context) error {
	if m.db.Kind == Postgres {
		m.lookup.(*pgLookup).limit = 1 << 30
		return nil
	}
	st, err := m.db.Read.DB.PrepareContext(ctx, lookupSQLite)
	if err != nil {
		return err
	}
	m.lookup = &plainSQLiteLookup{st: st}
	return nil
}

type plainSQLiteLookup struct {
	st *sql.Stmt
	n  atomic.Int64
}

func (l *plainSQLiteLookup) get(ctx context.Context, hash string, s *Session, u *User) error {
	l.n.Add(1)
	var t [3]string
	var amr string
	if err := l.st.QueryRowContext(ctx, hash).Scan(&s.ID, &s.UserID, &t[0], &t[1], &t[2], &u.Email, &u.Name, &u.Role, &amr, &u.GroupNames); err != nil {
		return err
	}
	s.AMR = AMR(amr)
	var err error
	for i, dst := range [3]*time.Time{&s.ExpiresAt, &s.CreatedAt, &s.LastSeenAt} {
		if *dst, err = parseStoredTime(t[i]); err != nil {
			return err
		}
	}
	return nil
}

func (l *plainSQLiteLookup) queries() int64 { return l.n.Load() }
func (l *plainSQLiteLookup) Close() error   { return l.st.Close() }

// SignIn creates a fresh session for the user after a password sign-in
// and returns its token; the token exists only in the return value (and
// so in the cookie).
func (m *SessionManager) SignIn(ctx context.Context, userID int64, c Client) (string, *Session, error) {
	return m.SignInWith(ctx, userID, c, passwordProof)
}

// Policy returns the lifetime configuration in force.
func (m *SessionManager) Policy() Policy { return m.policy }

// Ready is closed once the listener has subscribed for the first time.
func (l *RevocationListener) Ready() <-chan struct{} { return l.ready }

// Connected reports whether the listener holds a live subscription.
func (l *RevocationListener) Connected() bool {
	if l == nil {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.connected
}

// FlushTouches writes the touches waiting behind now, as the ticker does.
func (m *SessionManager) FlushTouches() { m.flushTouches() }
