package models

import (
	"context"
	"encoding/json"
	"slices"
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
}

// writeTouch records one touch's last-seen time, address and agent, on
// its request (no writes behind); a session that expired or went
// meanwhile gets ErrNotFound.
func (m *SessionManager) writeTouch(ctx context.Context, t lastSeen) error {
	res, err := m.db.NewUpdate().Model((*Session)(nil)).
		Set("last_seen_at = ?", m.db.T(t.seen)).Set("ip = ?", t.ip).Set("user_agent = ?", t.ua).
		Where("id = ?", t.id).Where("expires_at > ?", m.db.T(m.Now())).Exec(ctx)
	if err = affectedOne(res, err, "update session"); err == nil {
		m.TouchWrites.Add(1)
	}
	return err
}

// touchChunk touches go in one statement of writeTouches.
const touchChunk = 1000

// Each chunk's statement reads its touches from one parameter: a JSON
// array of [id, seen, ip, agent] on SQLite, arrays on PostgreSQL.
const (
	touchesSQLite = `UPDATE sessions SET last_seen_at = t.value->>1, ip = t.value->>2, user_agent = t.value->>3
FROM json_each(?) AS t WHERE sessions.id = t.value->>0 AND sessions.expires_at > ?`
	touchesPostgres = `UPDATE sessions SET last_seen_at = t.seen, ip = t.ip, user_agent = t.ua
FROM unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::text[]) AS t(id, seen, ip, ua)
WHERE sessions.id = t.id AND sessions.expires_at > $5`
)

// writeTouches records the touches in one transaction, a statement per
// touchChunk of them; a session that expired or went meanwhile is simply
// not written. A statement per touch cost more (BenchmarkTouchFlush): on
// SQLite each was SQL that bun formats anew, prepared anew; on PostgreSQL
// each was a round trip with the transaction open.
func (m *SessionManager) writeTouches(group []lastSeen) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	now := m.db.T(m.Now())
	var written int64
	err := m.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		for chunk := range slices.Chunk(group, touchChunk) {
			q, args, err := m.touchStatement(chunk, now)
			if err != nil {
				return err
			}
			res, err := tx.Tx.ExecContext(ctx, q, args...)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			written += n
		}
		return nil
	})
	if err != nil {
		return Wrap(err, "update sessions")
	}
	m.TouchWrites.Add(written)
	return nil
}

// touchStatement is the statement that writes chunk, and its arguments.
func (m *SessionManager) touchStatement(chunk []lastSeen, now any) (string, []any, error) {
	if m.db.Kind == Postgres {
		ids, seen, ips, uas := make([]int64, len(chunk)), make([]time.Time, len(chunk)), make([]string, len(chunk)), make([]string, len(chunk))
		for i, t := range chunk {
			ids[i], seen[i], ips[i], uas[i] = t.id, t.seen.UTC(), t.ip, t.ua
		}
		return touchesPostgres, []any{ids, seen, ips, uas, now}, nil
	}
	rows := make([][4]any, len(chunk))
	for i, t := range chunk {
		rows[i] = [4]any{t.id, m.db.T(t.seen), t.ip, t.ua}
	}
	data, err := json.Marshal(rows)
	return touchesSQLite, []any{string(data), now}, err
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

func (b *touchesBehind) take() []lastSeen {
	b.mu.Lock()
	defer b.mu.Unlock()
	group := make([]lastSeen, 0, len(b.pending))
	for _, t := range b.pending {
		group = append(group, t)
	}
	clear(b.pending)
	return group
}

// requeue puts back the touches of a write that failed, unless a later
// touch of the same session is already waiting.
func (b *touchesBehind) requeue(group []lastSeen) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, t := range group {
		if _, newer := b.pending[t.id]; !newer && len(b.pending) < maxTouchesBehind {
			b.pending[t.id] = t
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
// database fails they wait for the next one.
func (m *SessionManager) flushTouches() {
	group := m.behind.take()
	if len(group) == 0 {
		return
	}
	if err := m.writeTouches(group); err != nil {
		m.behind.requeue(group)
	}
}
