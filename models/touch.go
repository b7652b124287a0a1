package models

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/uptrace/bun"
)

// lastSeen is one session's touch.
type lastSeen struct {
	id     int64
	seen   time.Time
	ip, ua string
	err    error // set by writeTouches
}

// writeTouches records each touch's last-seen time, address and agent in
// one transaction; a session that expired or went meanwhile gets
// ErrNotFound. The transaction is not the request's: a request that goes
// away must not fail the touches of others written with it.
func (m *SessionManager) writeTouches(group []*lastSeen) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	now := m.Now()
	err := m.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		for _, t := range group {
			res, err := tx.NewUpdate().Model((*Session)(nil)).
				Set("last_seen_at = ?", m.db.T(t.seen)).Set("ip = ?", t.ip).Set("user_agent = ?", t.ua).
				Where("id = ?", t.id).Where("expires_at > ?", m.db.T(now)).Exec(ctx)
			if err != nil {
				return err
			}
			t.err = affectedOne(res, nil, "update session")
		}
		return nil
	})
	for _, t := range group {
		if err != nil {
			t.err = Wrap(err, "update session")
		}
		if t.err == nil {
			m.TouchWrites.Add(1)
		}
	}
}

// touchesBehind holds sessions' touches, written together about once a
// second while WriteTouchesBehind runs (a serving process). A cached
// session due only a touch then needs neither a read nor a write on its
// request: last seen is what the admin console shows, not what admits.
type touchesBehind struct {
	on      atomic.Bool
	mu      sync.Mutex
	pending map[int64]lastSeen // by session id: the latest touch
}

// maxTouchesBehind bounds what waits while the database is away; past it
// a touch goes the synchronous way (and gets the database's error).
const maxTouchesBehind = 1 << 20

// queue keeps t for the next write; false when write-behind is off or full.
func (b *touchesBehind) queue(t lastSeen) bool {
	if !b.on.Load() {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.pending == nil {
		b.pending = make(map[int64]lastSeen)
	}
	if len(b.pending) >= maxTouchesBehind {
		return false
	}
	b.pending[t.id] = t
	return true
}

func (b *touchesBehind) take() []*lastSeen {
	b.mu.Lock()
	defer b.mu.Unlock()
	group := make([]*lastSeen, 0, len(b.pending))
	for _, t := range b.pending {
		group = append(group, &t)
	}
	clear(b.pending)
	return group
}

// requeue puts back the touches of a write that failed, unless a later
// touch of the same session is already waiting.
func (b *touchesBehind) requeue(group []*lastSeen) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, t := range group {
		if _, newer := b.pending[t.id]; !newer && len(b.pending) < maxTouchesBehind {
			b.pending[t.id] = *t
		}
	}
}

// TouchesBehind is a running WriteTouchesBehind; Close writes what waits.
type TouchesBehind struct {
	m      *SessionManager
	cancel context.CancelFunc
	done   chan struct{}
}

// WriteTouchesBehind writes sessions' touches every interval instead of
// on their requests, until Close, which writes the rest. Without a cache
// too: there every request reads, and a commit per touch stalls the reads
// (on PostgreSQL it could run the connection pool dry under load).
func (m *SessionManager) WriteTouchesBehind(interval time.Duration) *TouchesBehind {
	ctx, cancel := context.WithCancel(context.Background())
	w := &TouchesBehind{m: m, cancel: cancel, done: make(chan struct{})}
	m.behind.on.Store(true)
	go func() {
		defer close(w.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				m.flushTouches()
			}
		}
	}()
	return w
}

// Close stops the writes, then writes what is waiting.
func (w *TouchesBehind) Close() error {
	w.cancel()
	<-w.done
	w.m.behind.on.Store(false)
	w.m.flushTouches()
	return nil
}

// flushTouches writes the waiting touches in one transaction; when the
// database fails they wait for the next one. A session gone meanwhile
// simply is not written.
func (m *SessionManager) flushTouches() {
	group := m.behind.take()
	if len(group) == 0 {
		return
	}
	m.writeTouches(group)
	var failed []*lastSeen
	for _, t := range group {
		if t.err != nil && !errors.Is(t.err, ErrNotFound) {
			failed = append(failed, t)
		}
	}
	m.behind.requeue(failed)
}
