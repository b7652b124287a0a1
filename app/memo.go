package app

import (
	"sync"
	"time"
)

// memo keeps one value computed at most once per ttl: the dashboard's
// counts, the list's total, the insights and the /metrics figures, each a
// scan of a big table that many requests would otherwise repeat. Loads are
// serialized, so callers arriving together share one computation.
type memo[T any] struct {
	mu  sync.Mutex
	ok  bool
	at  time.Time
	val T
}

// get returns the value while it is younger than ttl, else load's. When
// load fails it returns the last value (zero after forget) and the error.
func (m *memo[T]) get(ttl time.Duration, load func() (T, error)) (T, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ok && time.Since(m.at) < ttl {
		return m.val, nil
	}
	v, err := load()
	if err != nil {
		return m.val, err
	}
	m.val, m.at, m.ok = v, time.Now(), true
	return v, nil
}

// forget drops the value, so the next get loads.
func (m *memo[T]) forget() {
	m.mu.Lock()
	defer m.mu.Unlock()
	var zero T
	m.val, m.ok = zero, false
}
