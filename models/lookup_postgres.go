package models

import (
	"context"
	"database/sql"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
)

// pgLookup runs PostgreSQL's per-request session lookups, batching those
// that arrive together: while its limit of queries is in flight, new
// lookups wait in a queue, and when a query returns, the first waiter runs
// one query for the whole queue (token_hash = ANY($1)). A lone lookup runs
// at once, as one query of one hash, so batching adds no wait when idle.
//
// Each lookup is a round trip, and its cost is mostly not the query: the
// write to the socket, waking the backend, its reply, and waking the
// goroutine again. A batch pays them once for all its lookups.
type pgLookup struct {
	one, many *sql.Stmt    // lookupOne for one hash; lookupMany for a batch
	n         atomic.Int64 // queries run

	// limit is how many queries run at once: one per core (at least two),
	// to keep the cores busy while a batch is on the wire. More only makes
	// batches smaller, and throughput lower.
	limit int

	mu      sync.Mutex
	running int             // queries in flight, at most limit
	queue   []*pgLookupWait // waiting for the next batch
}

// pgBatchMax caps the hashes of one query; the rest wait for the next.
const pgBatchMax = 64

// lookupOne is the per-request query: hand-written and prepared, because
// bun inlines argument values and PostgreSQL could never reuse a plan. It
// reads what a request needs and the session cache holds — no address,
// agent or user timestamps, which the list queries read where they are
// shown — with no expiry bound: the check is done in Go.
const lookupOne = `SELECT s.id, s.user_id, s.expires_at, s.created_at, s.last_seen_at, u.email, u.name, u.role, s.amr, u.group_names
FROM sessions s JOIN users u ON u.id = s.user_id
WHERE s.token_hash = $1`

// lookupMany is lookupOne for many hashes at once, naming each row's. A
// lone hash still goes through lookupOne: = ANY($1) costs PostgreSQL more
// per execution, and its rows loop costs Go more, than = $1 does.
const lookupMany = `SELECT s.token_hash, s.id, s.user_id, s.expires_at, s.created_at, s.last_seen_at, u.email, u.name, u.role, s.amr, u.group_names
FROM sessions s JOIN users u ON u.id = s.user_id
WHERE s.token_hash = ANY($1)`

// pgLookupWait is one lookup: its hash, where its answer goes, and how its
// goroutine is woken — with nil when answered (see err), or with a batch
// (its own lookup among them) it is to run.
type pgLookupWait struct {
	hash string
	s    *Session
	u    *User
	err  error
	wake chan []*pgLookupWait
}

func preparePgLookup(ctx context.Context, db *DB) (*pgLookup, error) {
	one, err := db.Read.DB.PrepareContext(ctx, lookupOne)
	if err != nil {
		return nil, err
	}
	many, err := db.Read.DB.PrepareContext(ctx, lookupMany)
	if err != nil {
		one.Close()
		return nil, err
	}
	return &pgLookup{one: one, many: many, limit: max(2, runtime.GOMAXPROCS(0))}, nil
}

// get reads the session with token hash hash (and its user) into s and u;
// sql.ErrNoRows when there is none.
func (l *pgLookup) get(ctx context.Context, hash string, s *Session, u *User) error {
	w := &pgLookupWait{hash: hash, s: s, u: u}
	l.mu.Lock()
	if l.running < l.limit {
		l.running++
		l.mu.Unlock()
		l.run(ctx, w, []*pgLookupWait{w})
		return w.err
	}
	w.wake = make(chan []*pgLookupWait, 1)
	l.queue = append(l.queue, w)
	l.mu.Unlock()
	// No select on ctx: a waiter may be handed a batch to run, so it takes
	// whatever it is sent, after at most the query in flight.
	if batch := <-w.wake; batch != nil {
		l.run(ctx, w, batch)
	}
	return w.err
}

// run queries batch for self (one of its lookups), wakes the others, then
// hands what queued meanwhile to the first waiter, who runs it on its own
// goroutine: no request runs more than one batch.
func (l *pgLookup) run(ctx context.Context, self *pgLookupWait, batch []*pgLookupWait) {
	l.query(ctx, batch)
	for _, w := range batch {
		if w != self {
			w.wake <- nil
		}
	}
	l.mu.Lock()
	if len(l.queue) == 0 {
		l.running--
		l.mu.Unlock()
		return
	}
	n := min(len(l.queue), pgBatchMax)
	next := make([]*pgLookupWait, n)
	copy(next, l.queue)
	l.queue = append(l.queue[:0], l.queue[n:]...)
	l.mu.Unlock()
	next[0].wake <- next // the slot in flight passes to it
}

// query fills the lookups of batch; a failed query fails them all. It runs
// for several requests, so the one that runs it cannot cancel it (its
// client going away would fail the others). No deadline either: pgx
// watches a cancellable context with a goroutine per query, which cost
// a lone lookup a third of its time (BenchmarkPostgresValidationVsBarePgx).
func (l *pgLookup) query(ctx context.Context, batch []*pgLookupWait) {
	ctx = context.WithoutCancel(ctx)
	l.n.Add(1)
	if len(batch) == 1 {
		w := batch[0]
		w.err = l.one.QueryRowContext(ctx, w.hash).Scan(&w.s.ID, &w.s.UserID, &w.s.ExpiresAt, &w.s.CreatedAt,
			&w.s.LastSeenAt, &w.u.Email, &w.u.Name, &w.u.Role, &w.s.AMR, &w.u.GroupNames)
		return
	}
	hashes := make([]string, len(batch))
	for i, w := range batch {
		hashes[i], w.err = w.hash, sql.ErrNoRows
	}
	err := l.scan(ctx, hashes, batch)
	if err != nil {
		for _, w := range batch {
			w.err = err
		}
	}
}

func (l *pgLookup) scan(ctx context.Context, hashes []string, batch []*pgLookupWait) error {
	rows, err := l.many.QueryContext(ctx, hashes)
	if err != nil {
		return err
	}
	defer rows.Close()
	var r struct {
		hash string
		s    Session
		u    User
	}
	for rows.Next() {
		if err := rows.Scan(&r.hash, &r.s.ID, &r.s.UserID, &r.s.ExpiresAt, &r.s.CreatedAt, &r.s.LastSeenAt,
			&r.u.Email, &r.u.Name, &r.u.Role, &r.s.AMR, &r.u.GroupNames); err != nil {
			return err
		}
		for _, w := range batch { // the same cookie may be in a batch twice
			if w.hash == r.hash {
				w.s.ID, w.s.UserID, w.s.ExpiresAt, w.s.CreatedAt, w.s.LastSeenAt = r.s.ID, r.s.UserID, r.s.ExpiresAt, r.s.CreatedAt, r.s.LastSeenAt
				w.s.AMR = r.s.AMR
				w.u.Email, w.u.Name, w.u.Role, w.u.GroupNames = r.u.Email, r.u.Name, r.u.Role, r.u.GroupNames
				w.err = nil
			}
		}
	}
	return rows.Err()
}

func (l *pgLookup) queries() int64 { return l.n.Load() }

// Close releases the prepared statements.
func (l *pgLookup) Close() error { return errors.Join(l.one.Close(), l.many.Close()) }
