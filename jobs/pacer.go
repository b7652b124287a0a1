package jobs

import (
	"context"
	"errors"
	"time"

	"sessiond/models"
)

// CleanupChunk is one committed delete of a cleanup.
type CleanupChunk struct {
	Table string // what it deleted from: sessions, session_events, …
	Rows  int
	Size  int // the limit it ran with
	Took  time.Duration
	Rest  time.Duration // the pause after it
}

// pacer runs a delete in chunks sized by time, resting after each one.
type pacer struct {
	target   time.Duration
	ceiling  int // the largest chunk, and the first on PostgreSQL
	size     int
	chunks   int
	onChunk  func(CleanupChunk)
	firstCap int // the first chunk of each table at most
}

// restFactor is the pause after a chunk as a multiple of its duration, so
// lookups keep their CPU and, on SQLite, the one writer: a chunk busies a
// core a ninth of the time. Shorter rests tripled lookup latency during a
// large cleanup on two cores.
const restFactor = 8

// newPacer sets the chunk target and the first chunk for the database:
// the one place they depend on it. SQLite, whose single writer every
// request waits behind, aims at short chunks and starts small; PostgreSQL,
// where readers never wait for a delete, at longer ones.
func newPacer(kind models.Dialect, batch int, target time.Duration, onChunk func(CleanupChunk)) *pacer {
	p := &pacer{target: target, ceiling: batch, firstCap: batch, onChunk: onChunk}
	if p.target <= 0 {
		p.target = 100 * time.Millisecond
		if kind == models.SQLite {
			p.target = 25 * time.Millisecond
		}
	}
	if kind == models.SQLite {
		p.firstCap = min(batch, 1000)
	}
	return p
}

// drain calls del until it deletes fewer rows than asked. A chunk, once
// started, is never interrupted (it runs on a context without cancel); ctx
// is checked before each chunk and during the pause after it.
func (p *pacer) drain(ctx context.Context, table string, del func(context.Context, int) (int, error)) (int, error) {
	total := 0
	floor := min(p.ceiling, 50)
	p.size = p.firstCap
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		limit := p.size
		n, took, err := chunk(ctx, del, limit)
		if err != nil {
			return total, err
		}
		total += n
		if n == 0 {
			return total, nil
		}
		p.chunks++
		last := n < limit // the run ends here, without a pause
		var pause time.Duration
		if !last {
			pause = min(max(restFactor*took, time.Millisecond), time.Second)
		}
		if p.onChunk != nil {
			p.onChunk(CleanupChunk{Table: table, Rows: n, Size: limit, Took: took, Rest: pause})
		}
		if last {
			return total, nil
		}
		p.size = nextChunkSize(limit, took, p.target, floor, p.ceiling)
		select {
		case <-ctx.Done():
			return total, ctx.Err()
		case <-time.After(pause):
		}
	}
}

// busyRetries is how often a chunk is tried again when the database is
// busy (on SQLite another process held the write lock past busy_timeout)
// before the run gives up.
const busyRetries = 4

// chunk runs one delete, retrying a busy database with a growing pause so
// a cleanup beside a busy server finishes instead of failing.
func chunk(ctx context.Context, del func(context.Context, int) (int, error), limit int) (int, time.Duration, error) {
	for attempt := 0; ; attempt++ {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		t0 := time.Now()
		n, err := del(cctx, limit)
		took := time.Since(t0)
		cancel()
		if err == nil || !errors.Is(err, models.ErrUnavailable) || attempt == busyRetries {
			return n, took, err
		}
		select {
		case <-ctx.Done():
			return 0, took, ctx.Err()
		case <-time.After(time.Duration(attempt+1) * 200 * time.Millisecond):
		}
	}
}

// nextChunkSize scales the chunk toward the target duration: at most 4×
// smaller or 2× larger per step, within [floor, ceiling].
func nextChunkSize(size int, took, target time.Duration, floor, ceiling int) int {
	if took <= 0 {
		took = time.Microsecond
	}
	want := int(float64(size) * float64(target) / float64(took))
	want = min(max(want, size/4), size*2)
	return min(max(want, floor), ceiling)
}
