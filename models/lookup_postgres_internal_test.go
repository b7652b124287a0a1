package models

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"testing"
	"time"
)

// When a batch's query fails, every lookup in it gets the error — none is
// answered "no such session" — and every one returns: the slot in flight is
// handed on or given back, however the lookups queued.
func TestPgLookup_FailedBatch_FailsEveryLookupAndFreesItsSlot(t *testing.T) {
	d := &fakeDriver{fail: errors.New("connection reset"), delay: time.Millisecond}
	db := sql.OpenDB(d)
	defer db.Close()
	one, err := db.Prepare("one")
	if err != nil {
		t.Fatal(err)
	}
	many, err := db.Prepare("many")
	if err != nil {
		t.Fatal(err)
	}
	l := &pgLookup{one: one, many: many, limit: 2}
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for range 10 {
				var s Session
				var u User
				if err := l.get(context.Background(), "h", &s, &u); !errors.Is(err, d.fail) {
					t.Errorf("lookup in a failed batch: %v, want %v", err, d.fail)
					return
				}
			}
		})
	}
	wg.Wait()
	t.Logf("320 lookups in %d queries", l.queries())
	if q := l.queries(); q >= 320 {
		t.Errorf("%d queries for 320 lookups: no batch formed, so the test proved nothing", q)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.running != 0 || len(l.queue) != 0 {
		t.Errorf("after every lookup returned: %d queries in flight, %d queued; want none", l.running, len(l.queue))
	}
}
