package models

import (
	"context"
	"database/sql"
	"encoding/hex"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/uptrace/bun"
)

// The revocation log (migration 0006) is written by triggers, so every
// writer's revocations are in it: sessiond's own, the CLI's, a DELETE typed
// into psql or sqlite3. Each instance reads the rows after the last it saw
// (catchUp) every RevocationPoll and drops what they name from its cache.
const (
	// RevocationPoll is how often an instance reads the log.
	RevocationPoll = 500 * time.Millisecond
	// RevocationBound is how long a cached session may answer after the
	// start of the last successful read of the log: a revocation by any
	// writer is honoured everywhere within it. When the log cannot be read
	// (the database is away), the cache stops answering once it has passed.
	RevocationBound = 1500 * time.Millisecond
	// RevocationRetention is how long the cleanup job keeps log rows: an
	// instance that stopped reading for less catches up row by row; one
	// that stopped for longer empties its cache instead.
	RevocationRetention = 24 * time.Hour
	revocationPage      = 1000
)

// Revocation is one row of the log: a token hash, or a user id, or (typed
// by hand) neither.
type Revocation struct {
	bun.BaseModel `bun:"table:revocations"`

	ID        int64          `bun:"id,pk,autoincrement"`
	At        time.Time      `bun:"at"`
	TokenHash sql.NullString `bun:"token_hash"`
	UserID    sql.NullInt64  `bun:"user_id"`
}

// revocationFeed is where the manager is in the log, and until when its
// cache may answer. It outlives a RevocationWatch, so a watch started again
// (an instance resumed after a pause) replays what it missed.
type revocationFeed struct {
	base       time.Time    // monotonic origin of trustUntil
	trustUntil atomic.Int64 // nanoseconds since base

	mu      sync.Mutex // one catch-up at a time
	cursor  int64      // the last id applied
	started bool
}

// trusted reports whether the cache may answer now: the log was read
// within RevocationBound. A manager that never watched the log trusts its
// cache (CLI commands, tests of the cache itself): the TTL bounds it.
func (m *SessionManager) trusted() bool {
	f := m.feed.Load()
	return f == nil || int64(time.Since(f.base)) < f.trustUntil.Load()
}

// catchUp applies the log rows after the cursor to the cache. The first
// call starts the cursor at the newest row and empties the cache, as does
// finding that rows after the cursor were pruned. Only a success extends
// the time the cache may answer, from the moment the read began.
func (m *SessionManager) catchUp(ctx context.Context) error {
	f := m.feed.Load()
	f.mu.Lock()
	defer f.mu.Unlock()
	began := time.Since(f.base)
	if !f.started {
		var newest int64
		err := m.db.Read.NewSelect().Model((*Revocation)(nil)).ColumnExpr("COALESCE(MAX(id), 0)").Scan(ctx, &newest)
		if err != nil {
			return Wrap(err, "read revocation log")
		}
		m.cache.Flush()
		f.cursor, f.started = newest, true
	}
	for {
		var rows []Revocation
		err := m.db.Read.NewSelect().Model(&rows).Column("id", "token_hash", "user_id").
			Where("id > ?", f.cursor).Order("id").Limit(revocationPage).Scan(ctx)
		if err != nil {
			return Wrap(err, "read revocation log")
		}
		if len(rows) > 0 && rows[0].ID > f.cursor+1 {
			if err := m.checkPruned(ctx, f.cursor); err != nil {
				return err
			}
		}
		m.applyRevocations(rows)
		if len(rows) > 0 {
			f.cursor = rows[len(rows)-1].ID
		}
		if len(rows) < revocationPage {
			break
		}
	}
	f.trustUntil.Store(int64(began + RevocationBound))
	return nil
}

// checkPruned empties the cache when the log no longer holds the row at the
// cursor or any before it: rows after it may have been pruned unread.
// (A gap alone is no proof: a rolled-back revocation leaves one.)
func (m *SessionManager) checkPruned(ctx context.Context, cursor int64) error {
	kept, err := m.db.Read.NewSelect().Model((*Revocation)(nil)).Where("id <= ?", cursor).Exists(ctx)
	if err != nil {
		return Wrap(err, "read revocation log")
	}
	if !kept {
		m.cache.Flush()
	}
	return nil
}

// applyRevocations drops what rows name in one pass over the cache. A row
// naming nothing cached, or nothing at all, changes nothing.
func (m *SessionManager) applyRevocations(rows []Revocation) {
	var hashes []string
	var users []int64
	for _, r := range rows {
		if r.TokenHash.Valid {
			hashes = append(hashes, r.TokenHash.String)
		}
		if r.UserID.Valid {
			users = append(users, r.UserID.Int64)
		}
	}
	m.cache.drop(hashes, users)
}

// RevocationWatch reads the log every RevocationPoll and, on PostgreSQL,
// listens for the NOTIFY its triggers send at commit (the fast path).
type RevocationWatch struct {
	cancel   context.CancelFunc
	done     chan struct{}
	listener *RevocationListener
}

// WatchRevocations starts reading the log for m's cache; nil when there is
// no cache. From the first call on, the cache answers only while the log
// has been read within RevocationBound. onError, when set, hears the first
// failure of a run of failed reads and of the listener's connection.
func (m *SessionManager) WatchRevocations(onError func(error)) *RevocationWatch {
	if m.cache == nil {
		return nil
	}
	m.feed.CompareAndSwap(nil, &revocationFeed{base: time.Now()})
	ctx, cancel := context.WithCancel(context.Background())
	w := &RevocationWatch{cancel: cancel, done: make(chan struct{})}
	w.listener = listenRevocations(m, onError)
	go w.poll(ctx, m, onError)
	return w
}

func (w *RevocationWatch) poll(ctx context.Context, m *SessionManager, onError func(error)) {
	defer close(w.done)
	t := time.NewTicker(RevocationPoll)
	defer t.Stop()
	failing := false
	for {
		err := m.catchUp(ctx)
		if err != nil && !failing && onError != nil && ctx.Err() == nil {
			onError(err)
		}
		failing = err != nil
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Listener is the PostgreSQL listener; nil on SQLite.
func (w *RevocationWatch) Listener() *RevocationListener { return w.listener }

// Close stops reading and listening and waits for both.
func (w *RevocationWatch) Close() error {
	if w == nil {
		return nil
	}
	w.cancel()
	<-w.done
	return w.listener.Close()
}

// Revocation messages, as the log's triggers NOTIFY them (listener.go) and
// Apply takes them.
const (
	revokeUser    = "user:"
	revokeSession = "session:"
)

// Apply drops what a revocation message names: a token hash in hex,
// "user:<id>" or "session:<id>". Anything else flushes the whole cache.
func (c *SessionCache) Apply(msg string) {
	switch {
	case strings.HasPrefix(msg, revokeUser):
		if id, err := strconv.ParseInt(msg[len(revokeUser):], 10, 64); err == nil {
			c.DropUser(id)
			return
		}
	case strings.HasPrefix(msg, revokeSession):
		if id, err := strconv.ParseInt(msg[len(revokeSession):], 10, 64); err == nil {
			c.DropSession(id)
			return
		}
	case len(msg) == 64:
		c.DropHash(msg)
		return
	}
	c.Flush()
}

// drop forgets the sessions whose token hashes (hex) are hashes and every
// session of users, under one hold of the lock and, for users, one pass
// over the entries in memory order. A hash that is not one we issue (not
// 64 hex digits) names nothing and is ignored.
func (c *SessionCache) drop(hashes []string, users []int64) {
	if c == nil || len(hashes)+len(users) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen.Add(1)
	var key [32]byte
	for _, h := range hashes {
		if len(h) != 64 {
			continue
		}
		if _, err := hex.Decode(key[:], []byte(h)); err != nil {
			continue
		}
		if i, ok := c.index[key]; ok {
			c.remove(i)
		}
	}
	if len(users) == 0 {
		return
	}
	gone := make(map[int64]struct{}, len(users))
	for _, id := range users {
		gone[id] = struct{}{}
	}
	for i := range c.used {
		e := c.at(i)
		if _, ok := gone[e.userID]; ok && e.sessionID != 0 { // a free slot has session id 0
			c.remove(i)
		}
	}
}
