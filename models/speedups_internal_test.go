package models

import (
	"container/list"
	"crypto/sha256"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"
)

// BenchmarkStoredTimeParse weighs parseStoredTime against the plain form,
// time.Parse with the one format SQLite times are stored in.
func BenchmarkStoredTimeParse(b *testing.B) {
	s := time.Date(2026, 12, 6, 17, 45, 1, 123456000, time.UTC).Format(sqliteTimeFormat)
	b.Run("hand-written", func(b *testing.B) {
		for b.Loop() {
			if _, err := parseStoredTime(s); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("time.Parse", func(b *testing.B) {
		for b.Loop() {
			if _, err := time.Parse(sqliteTimeFormat, s); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// listLRU is the plain form of SessionCache: container/list with a map,
// one heap element per entry, every hit moved to the front.
type listLRU struct {
	mu    sync.Mutex
	max   int
	ll    *list.List
	index map[[32]byte]*list.Element
}

type listEntry struct {
	key [32]byte
	e   cacheEntry
}

func (c *listLRU) store(key [32]byte, e cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.index[key]; ok {
		el.Value.(*listEntry).e = e
		c.ll.MoveToFront(el)
		return
	}
	if c.ll.Len() >= c.max {
		old := c.ll.Remove(c.ll.Back()).(*listEntry)
		delete(c.index, old.key)
	}
	c.index[key] = c.ll.PushFront(&listEntry{key: key, e: e})
}

func (c *listLRU) lookup(key *[32]byte) (cacheEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.index[*key]
	if !ok {
		return cacheEntry{}, false
	}
	c.ll.MoveToFront(el)
	return el.Value.(*listEntry).e, true
}

// BenchmarkCacheSlabVsList weighs the slab LRU against container/list at
// the default size (250,000 sessions): the heap each holds per entry, and a
// hit on a random entry from two goroutines.
func BenchmarkCacheSlabVsList(b *testing.B) {
	const n = 250_000
	keys := make([][32]byte, n)
	for i := range keys {
		keys[i] = sha256.Sum256([]byte(strconv.Itoa(i)))
	}
	now := time.Now()
	sess := func(i int) *Session {
		return &Session{ID: int64(i + 1), UserID: int64(i%1000 + 1), ExpiresAt: now.Add(time.Hour), CreatedAt: now, LastSeenAt: now, AMR: "pwd",
			User: &User{Email: "user" + strconv.Itoa(i) + "@example.com", Name: "User " + strconv.Itoa(i), Role: RoleUser}}
	}
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	b.Run("slab", func(b *testing.B) {
		h0 := heap()
		c := NewSessionCache(time.Hour, n)
		for i := range n {
			c.store(&keys[i], sess(i), c.Generation(), now)
		}
		perEntry := float64(heap()-h0) / n
		us := now.UnixMicro()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := rand.IntN(n)
			for pb.Next() {
				i = (i + 7919) % n
				if _, ok := c.lookup(&keys[i], us); !ok {
					b.Error("miss")
					return
				}
			}
		})
		b.ReportMetric(perEntry, "heap-B/entry")
		runtime.KeepAlive(c)
	})
	b.Run("container-list", func(b *testing.B) {
		h0 := heap()
		c := &listLRU{max: n, ll: list.New(), index: make(map[[32]byte]*list.Element)}
		for i := range n {
			s := sess(i)
			c.store(keys[i], cacheEntry{key: keys[i], sessionID: s.ID, userID: s.UserID, expires: s.ExpiresAt.UnixMicro(),
				created: s.CreatedAt.UnixMicro(), seen: s.LastSeenAt.UnixMicro(), user: s.User.Email + s.User.Name, emailLen: uint16(len(s.User.Email))})
		}
		perEntry := float64(heap()-h0) / n
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := rand.IntN(n)
			for pb.Next() {
				i = (i + 7919) % n
				if _, ok := c.lookup(&keys[i]); !ok {
					b.Error("miss")
					return
				}
			}
		})
		b.ReportMetric(perEntry, "heap-B/entry")
		runtime.KeepAlive(c)
	})
}
