package models

import (
	"crypto/sha256"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

func cacheKey(i int) [32]byte { return sha256.Sum256([]byte(fmt.Sprint("token", i))) }

func cacheSession(i int) *Session {
	now := time.Now().UTC()
	// Fresh strings, as a database scan would make them.
	email := strings.Clone(fmt.Sprintf("someone.%06d@example.com", i))
	name := strings.Clone(fmt.Sprintf("Some One %06d", i))
	return &Session{ID: int64(i), UserID: int64(i / 3), ExpiresAt: now.Add(time.Hour), CreatedAt: now, LastSeenAt: now,
		User: &User{ID: int64(i / 3), Email: email, Name: name, Role: RoleUser}}
}

func TestSessionCache_Full_EvictsLeastRecentlyUsed_NeverExceedsMax(t *testing.T) {
	c := NewSessionCache(time.Minute, 3)
	now := time.Now()
	for i := range 3 {
		k := cacheKey(i)
		c.store(&k, cacheSession(i), c.Generation(), now)
	}
	k0 := cacheKey(0)
	if _, ok := c.lookup(&k0, now.UnixMicro()); !ok { // 0 is now the most recent
		t.Fatal("entry 0 missing")
	}
	k3 := cacheKey(3)
	c.store(&k3, cacheSession(3), c.Generation(), now)
	if c.Len() != 3 {
		t.Fatalf("Len = %d, want 3", c.Len())
	}
	k1 := cacheKey(1)
	if _, ok := c.lookup(&k1, now.UnixMicro()); ok {
		t.Fatal("least recently used entry 1 survived eviction")
	}
	for _, i := range []int{0, 2, 3} {
		k := cacheKey(i)
		if e, ok := c.lookup(&k, now.UnixMicro()); !ok || e.sessionID != int64(i) {
			t.Fatalf("entry %d: %+v %v", i, e, ok)
		}
	}
	if _, ok := c.lookup(&k0, now.Add(time.Minute).UnixMicro()); ok {
		t.Fatal("entry used after its TTL")
	}
}

func TestSessionCache_StoreAfterDrop_IsRefused(t *testing.T) {
	c := NewSessionCache(time.Minute, 10)
	k := cacheKey(1)
	gen := c.Generation() // a lookup starts…
	c.DropUser(42)        // …a revocation lands…
	c.store(&k, cacheSession(1), gen, time.Now())
	if c.Len() != 0 {
		t.Fatal("a lookup that raced a revocation was cached")
	}
}

func TestSessionCache_Apply_DropsByHashUserAndSession(t *testing.T) {
	c := NewSessionCache(time.Minute, 100)
	now := time.Now()
	for i := range 9 { // users 0,1,2 with three sessions each
		k := cacheKey(i)
		c.store(&k, cacheSession(i), c.Generation(), now)
	}
	k4 := cacheKey(4)
	c.Apply(fmt.Sprintf("%x", k4))
	c.Apply("user:0")
	c.Apply("session:8")
	if c.Len() != 4 {
		t.Fatalf("Len = %d after dropping 1+3+1 of 9, want 4", c.Len())
	}
	c.Apply("garbage")
	if c.Len() != 0 {
		t.Fatal("an unknown message must flush")
	}
}

// TestSessionCache_Memory_AtMost250BytesPerEntry measures the heap the
// cache holds per entry (map slot, slab entry and the user's strings).
func TestSessionCache_Memory_AtMost250BytesPerEntry(t *testing.T) {
	const n = 100_000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	c := NewSessionCache(time.Minute, n)
	now := time.Now()
	for i := range n {
		k := cacheKey(i)
		c.store(&k, cacheSession(i), c.Generation(), now) // the session itself becomes garbage
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := float64(after.HeapAlloc-before.HeapAlloc) / n
	t.Logf("%.0f bytes per entry (%d entries)", per, c.Len())
	if c.Len() != n {
		t.Fatalf("Len = %d", c.Len())
	}
	if per > 250 {
		t.Fatalf("%.0f bytes per entry, want ≤ 250", per)
	}
	runtime.KeepAlive(c)
}

func TestParseStoredTime_MatchesTimeParse_ForWhatBunWrites(t *testing.T) {
	base := time.Date(2026, 3, 29, 1, 59, 59, 0, time.UTC)
	for _, ns := range []int{0, 1000, 120000, 999999000, 500000000} {
		want := base.Add(time.Duration(ns))
		text := want.Format(sqliteTimeFormat)
		got, err := parseStoredTime(text)
		if err != nil || !got.Equal(want) {
			t.Fatalf("%q: %v %v, want %v", text, got, err, want)
		}
	}
	if got, err := parseStoredTime("2026-03-29T01:59:59+02:00"); err != nil || !got.Equal(base.Add(-2*time.Hour)) {
		t.Fatalf("RFC 3339 fallback: %v %v", got, err)
	}
	if _, err := parseStoredTime("yesterday"); err == nil {
		t.Fatal("garbage parsed")
	}
}

func TestSessionCache_Hit_MovesAnEntryOnlyOnceHalfTheCacheIsInFrontOfIt(t *testing.T) {
	c := NewSessionCache(time.Minute, 10) // promoteAfter 5
	now := time.Now()
	for i := range 10 {
		k := cacheKey(i)
		c.store(&k, cacheSession(i), c.Generation(), now)
	}
	recent, oldest := cacheKey(8), cacheKey(0)
	if _, ok := c.lookup(&recent, now.UnixMicro()); !ok {
		t.Fatal("entry 8 missing")
	}
	if c.at(c.head).sessionID != 9 {
		t.Fatalf("a hit on entry 8, one push behind the front, moved it: head is %d", c.at(c.head).sessionID)
	}
	if _, ok := c.lookup(&oldest, now.UnixMicro()); !ok {
		t.Fatal("entry 0 missing")
	}
	if c.at(c.head).sessionID != 0 {
		t.Fatalf("a hit on entry 0, at the back, left it there: head is %d", c.at(c.head).sessionID)
	}
	// Five new entries evict the five least recent (1–5); 0 was used, so it stays.
	for i := 10; i < 15; i++ {
		k := cacheKey(i)
		c.store(&k, cacheSession(i), c.Generation(), now)
	}
	for i := range 15 {
		k := cacheKey(i)
		_, ok := c.lookup(&k, now.UnixMicro())
		if want := i == 0 || i > 5; ok != want {
			t.Fatalf("entry %d cached = %v, want %v", i, ok, want)
		}
	}
	if hits, misses := c.Counts(); hits != 12 || misses != 5 {
		t.Fatalf("Counts = %d hits, %d misses; want 12, 5", hits, misses)
	}
}
