package models

import (
	"context"
	"sync"
	"time"

	"github.com/uptrace/bun"
)

// touchGroup writes last-seen touches in groups. Under steady traffic
// every session falls due once per touch interval — hundreds a second for
// a large install — and one transaction each queued them all behind the
// one SQLite writer. Here the first request due a touch writes it; touches
// due meanwhile wait and are written together by the next one of them,
// in one transaction. Each request still returns only after its own touch
// is committed, so nothing about a request's answer changes.
type touchGroup struct {
	mu      sync.Mutex
	writing bool        // a group is being written
	queue   []*lastSeen // due while it is
}

// lastSeen is one session's touch.
type lastSeen struct {
	id       int64
	seen     time.Time
	ip, ua   string
	err      error
	finished chan []*lastSeen // nil: written (see err); a group: write it, it holds this touch
}

// run writes t, alone or with the touches that wait beside it, with write
// (which sets each touch's err).
func (g *touchGroup) run(t *lastSeen, write func([]*lastSeen)) error {
	t.finished = make(chan []*lastSeen, 1)
	g.mu.Lock()
	if g.writing {
		g.queue = append(g.queue, t)
		g.mu.Unlock()
		if group := <-t.finished; group != nil {
			g.lead(group, write)
		}
		return t.err
	}
	g.writing = true
	g.mu.Unlock()
	g.lead([]*lastSeen{t}, write)
	return t.err
}

// lead writes group (whose first touch is the caller's), then hands the
// touches that queued meanwhile to the first of them: every request
// writes at most one group.
func (g *touchGroup) lead(group []*lastSeen, write func([]*lastSeen)) {
	write(group)
	g.mu.Lock()
	next := g.queue
	g.queue = nil
	g.writing = len(next) > 0
	g.mu.Unlock()
	for _, t := range group[1:] {
		t.finished <- nil
	}
	if len(next) > 0 {
		next[0].finished <- next
	}
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
