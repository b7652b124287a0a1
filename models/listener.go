package models

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// RevocationListener keeps this process's session cache in step with
// revocations made by other instances on the same PostgreSQL: it LISTENs on
// RevokeChannel over its own connection (a pooled database/sql connection
// cannot wait for notifications) and applies each message to the cache.
// Whenever it (re)connects it flushes the cache, because notifications sent
// while it was away are lost.
type RevocationListener struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu        sync.Mutex
	connected bool
	pid       uint32 // the subscribed backend, for tests
	lastErr   error
	ready     chan struct{} // closed once the first LISTEN is in place
}

// ListenRevocations starts the listener for m's cache. It returns nil when
// there is nothing to listen for: no cache, or SQLite (one process owns the
// file's sessions; other writers are bounded by the cache TTL). onError,
// when set, hears connection failures (the app logs them).
func ListenRevocations(m *SessionManager, onError func(error)) *RevocationListener {
	if m.cache == nil || m.db.Kind != Postgres || m.db.url == "" {
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &RevocationListener{cancel: cancel, done: make(chan struct{}), ready: make(chan struct{})}
	go l.run(ctx, m, onError)
	return l
}

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

// Close stops the listener and waits for it.
func (l *RevocationListener) Close() error {
	if l == nil {
		return nil
	}
	l.cancel()
	<-l.done
	return nil
}

func (l *RevocationListener) setConnected(ok bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.connected, l.lastErr = ok, err
}

func (l *RevocationListener) run(ctx context.Context, m *SessionManager, onError func(error)) {
	defer close(l.done)
	var once sync.Once
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := listenOnce(ctx, m, func(pid uint32) {
			l.mu.Lock()
			l.pid = pid
			l.mu.Unlock()
			l.setConnected(true, nil)
			backoff = 100 * time.Millisecond
			once.Do(func() { close(l.ready) })
		})
		l.setConnected(false, err)
		// Whatever was sent while we were away is lost: forget everything.
		m.cache.Flush()
		if ctx.Err() != nil {
			return
		}
		if onError != nil && err != nil {
			onError(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		if backoff *= 2; backoff > 5*time.Second {
			backoff = 5 * time.Second
		}
	}
}

// listenOnce subscribes and applies notifications until the connection
// fails or ctx ends.
func listenOnce(ctx context.Context, m *SessionManager, subscribed func(pid uint32)) error {
	cfg, err := pgx.ParseConfig(m.db.url)
	if err != nil {
		return err
	}
	cfg.RuntimeParams["application_name"] = "sessiond revocation listener"
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	conn, err := pgx.ConnectConfig(cctx, cfg)
	cancel()
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+RevokeChannel); err != nil {
		return err
	}
	// Entries cached before the subscription may have missed a revocation.
	m.cache.Flush()
	subscribed(conn.PgConn().PID())
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		}
		m.forget([]string{n.Payload})
	}
}
