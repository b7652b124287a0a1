package models

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// RevocationListener is the fast path of the revocation log on PostgreSQL:
// the log's triggers NOTIFY on the schema's channel at commit, and the listener
// applies each message to the cache as it arrives, over a connection of its
// own (a pooled database/sql connection cannot wait for notifications).
// Whenever it (re)subscribes it replays the log, since notifications sent
// while it was away are lost; the log's poll covers it meanwhile.
type RevocationListener struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu        sync.Mutex
	connected bool
	pid       uint32 // the subscribed backend, for tests
	lastErr   error
	ready     chan struct{} // closed once the first LISTEN is in place
}

// listenRevocations starts the listener for m's cache; nil when there is
// nothing to listen for: no cache, or SQLite (which has no NOTIFY: the poll
// of the log is all). onError, when set, hears connection failures.
func listenRevocations(m *SessionManager, onError func(error)) *RevocationListener {
	if m.cache == nil || m.db.Kind != Postgres || m.db.url == "" {
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &RevocationListener{cancel: cancel, done: make(chan struct{}), ready: make(chan struct{})}
	go l.run(ctx, m, onError)
	return l
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
	var schema string
	if err := conn.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{"sessiond_revoke:" + schema}.Sanitize()); err != nil {
		return err
	}
	// What was sent before the subscription is in the log.
	if err := m.catchUp(ctx); err != nil {
		return err
	}
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
