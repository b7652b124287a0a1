package models

// BackendPID is the PostgreSQL backend the listener is subscribed on.
func (l *RevocationListener) BackendPID() uint32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pid
}

// Trusted reports whether the cache may answer (the log was read lately).
func (m *SessionManager) Trusted() bool { return m.trusted() }
