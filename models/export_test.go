package models

import "context"

// BackendPID is the PostgreSQL backend the listener is subscribed on.
func (l *RevocationListener) BackendPID() uint32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pid
}

// Trusted reports whether the cache may answer (the log was read lately).
func (m *SessionManager) Trusted() bool { return m.trusted() }

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
