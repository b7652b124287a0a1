package models

import (
	"encoding/hex"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// SessionCache is a bounded LRU of validated sessions keyed by the SHA-256
// of their token. It is what brings an authenticated request close to the
// cost of an unauthenticated one (DESIGN.md, performance).
//
// Entries live in fixed-size chunks linked by index, not in one heap object
// each, so an entry costs its 112 bytes plus a map slot, with no allocator
// rounding and nothing for the garbage collector to trace but one string.
// A nil *SessionCache is a disabled cache: every method is a no-op.
//
// A hit moves its entry to the front only when at least half the cache has
// been pushed in front of it since it was last there (promoteAfter): a busy
// entry of a big cache is not relinked on every request — relinking touched
// three other entries, each a likely cache miss on a server whose kernel and
// load evict the CPU caches between requests — and still no entry is evicted
// while it is among the max/2 most recently promoted. Caches of up to three
// entries are exact LRUs.
//
// Staleness: revocations through this process drop entries at once
// (SessionManager.forget, after commit); every other writer's reach it
// through the revocation log within RevocationBound (revocations.go), at
// once on PostgreSQL through NOTIFY (listener.go).
type SessionCache struct {
	ttl          time.Duration
	max          int32
	promoteAfter uint32

	mu     sync.Mutex
	index  map[[32]byte]int32
	chunks [][]cacheEntry
	used   int32  // slots handed out so far (the high-water mark)
	free   int32  // head of the free list (linked by next), -1 when empty
	head   int32  // most recently used, -1 when empty
	tail   int32  // least recently used, -1 when empty
	clock  uint32 // counts pushes to the front; an entry's stamp is its value at the entry's last push

	// Counted under mu, beside the lock's own cache line: an atomic of its
	// own was one more contended line per request.
	hits, misses int64

	// gen changes on every drop or flush. A miss reads it before going to
	// the database and stores its result only if it has not changed, so a
	// lookup racing a revocation can never cache the revoked session.
	gen atomic.Uint64
}

const (
	cacheChunkBits = 10
	cacheChunkSize = 1 << cacheChunkBits
)

// cacheEntry is the part of a session a request needs. IP, user agent and
// the user's timestamps are not kept: a cache hit returns them zero.
type cacheEntry struct {
	key        [32]byte
	prev, next int32
	stamp      uint32 // the cache's clock when the entry was last pushed to the front
	emailLen   uint16 // user is the email followed by the name (and groups, see store)
	admin      bool
	amr        uint8 // AMR.cacheBits, in what was padding
	sessionID  int64
	userID     int64
	expires    int64 // unix µs
	created    int64
	seen       int64
	staleAt    int64 // unix µs: the entry is not used from this instant on
	user       string
}

// NewSessionCache returns a cache holding at most maxEntries sessions for
// ttl each; ttl ≤ 0 returns nil, the disabled cache.
func NewSessionCache(ttl time.Duration, maxEntries int) *SessionCache {
	if ttl <= 0 || maxEntries <= 0 {
		return nil
	}
	if maxEntries > 1<<30 {
		maxEntries = 1 << 30
	}
	return &SessionCache{
		ttl: ttl, max: int32(maxEntries), promoteAfter: uint32(max(1, maxEntries/2)),
		index: make(map[[32]byte]int32), free: -1, head: -1, tail: -1,
	}
}

// Len is the number of cached sessions.
func (c *SessionCache) Len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.index)
}

// Counts returns how many lookups found a usable entry and how many did not.
func (c *SessionCache) Counts() (hits, misses int64) {
	if c == nil {
		return 0, 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits, c.misses
}

func (c *SessionCache) at(i int32) *cacheEntry {
	return &c.chunks[i>>cacheChunkBits][i&(cacheChunkSize-1)]
}

func (c *SessionCache) unlink(i int32) {
	e := c.at(i)
	if e.prev >= 0 {
		c.at(e.prev).next = e.next
	} else {
		c.head = e.next
	}
	if e.next >= 0 {
		c.at(e.next).prev = e.prev
	} else {
		c.tail = e.prev
	}
	e.prev, e.next = -1, -1
}

func (c *SessionCache) pushFront(i int32) {
	e := c.at(i)
	c.clock++
	e.stamp = c.clock
	e.prev, e.next = -1, c.head
	if c.head >= 0 {
		c.at(c.head).prev = i
	}
	c.head = i
	if c.tail < 0 {
		c.tail = i
	}
}

// remove unlinks slot i, forgets its key and puts it on the free list.
func (c *SessionCache) remove(i int32) {
	c.unlink(i)
	e := c.at(i)
	delete(c.index, e.key)
	*e = cacheEntry{prev: -1, next: c.free}
	c.free = i
}

// alloc returns a free slot, evicting the least recently used entry when
// the cache is full.
func (c *SessionCache) alloc() int32 {
	if int32(len(c.index)) >= c.max && c.tail >= 0 {
		c.remove(c.tail)
	}
	if c.free >= 0 {
		i := c.free
		c.free = c.at(i).next
		return i
	}
	i := c.used
	if int(i>>cacheChunkBits) == len(c.chunks) {
		size := cacheChunkSize
		if rest := int(c.max - i); rest < size {
			size = rest
		}
		c.chunks = append(c.chunks, make([]cacheEntry, size))
	}
	c.used++
	return i
}

// lookup returns the entry for key if it is still fresh at now (µs),
// marking it most recently used. The entry is copied out under the lock.
func (c *SessionCache) lookup(key *[32]byte, now int64) (cacheEntry, bool) {
	if c == nil {
		return cacheEntry{}, false
	}
	c.mu.Lock()
	i, ok := c.index[*key]
	if !ok {
		c.misses++
		c.mu.Unlock()
		return cacheEntry{}, false
	}
	e := c.at(i)
	if now >= e.staleAt {
		c.remove(i)
		c.misses++
		c.mu.Unlock()
		return cacheEntry{}, false
	}
	// The clock wraps after 2³² pushes; an entry whose stamp is that old
	// may be left in place once, which costs at most one database lookup.
	if c.clock-e.stamp >= c.promoteAfter {
		c.unlink(i)
		c.pushFront(i)
	}
	c.hits++
	out := *e
	c.mu.Unlock()
	return out, true
}

// markSeen records that the cached session id behind key was seen at
// seen (unix µs), as its touch, written behind, will.
func (c *SessionCache) markSeen(key *[32]byte, id, seen int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i, ok := c.index[*key]; ok {
		if e := c.at(i); e.sessionID == id && e.seen < seen {
			e.seen = seen
		}
	}
}

// countDue turns the hit lookup just counted into a miss: the session was
// found but is due a write (an extension or a last-seen touch), so the
// database answers after all.
func (c *SessionCache) countDue() {
	c.mu.Lock()
	c.hits--
	c.misses++
	c.mu.Unlock()
}

// Generation is read before a database lookup whose result may be stored.
func (c *SessionCache) Generation() uint64 {
	if c == nil {
		return 0
	}
	return c.gen.Load()
}

// store caches s (with its User) under key at now, unless a drop or flush
// happened since gen was read.
func (c *SessionCache) store(key *[32]byte, s *Session, gen uint64, now time.Time) {
	if c == nil || s == nil || s.User == nil || len(s.User.Email) > math.MaxUint16 {
		return
	}
	amr, ok := s.AMR.cacheBits()
	if !ok {
		return
	}
	// One string, one cache line fewer to fetch on a hit; a NUL (which no
	// name holds: checkInput refuses it) starts the groups, when there are any.
	user := s.User.Email + s.User.Name
	if s.User.GroupNames != "" {
		user += "\x00" + s.User.GroupNames
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen.Load() != gen {
		return
	}
	i, ok := c.index[*key]
	if ok {
		c.unlink(i)
	} else {
		i = c.alloc()
		c.index[*key] = i
	}
	e := c.at(i)
	*e = cacheEntry{
		key: *key, admin: s.User.Role == RoleAdmin, amr: amr,
		sessionID: s.ID, userID: s.UserID,
		expires: s.ExpiresAt.UnixMicro(), created: s.CreatedAt.UnixMicro(), seen: s.LastSeenAt.UnixMicro(),
		staleAt: now.Add(c.ttl).UnixMicro(),
		user:    user, emailLen: uint16(len(s.User.Email)),
	}
	c.pushFront(i)
}

// DropHash forgets the session whose token hash (hex) is hash.
func (c *SessionCache) DropHash(hash string) {
	if c == nil {
		return
	}
	var key [32]byte
	if len(hash) != 64 {
		c.Flush() // not a hash we issued: be safe
		return
	}
	if _, err := hex.Decode(key[:], []byte(hash)); err != nil {
		c.Flush()
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen.Add(1)
	if i, ok := c.index[key]; ok {
		c.remove(i)
	}
}

// DropUser forgets every session of the user. It walks the cache: user
// changes are rare, and a per-user index would cost memory on every entry.
func (c *SessionCache) DropUser(userID int64) {
	c.dropWhere(func(e *cacheEntry) bool { return e.userID == userID })
}

// DropSession forgets the session with this id, whatever its token.
func (c *SessionCache) DropSession(id int64) {
	c.dropWhere(func(e *cacheEntry) bool { return e.sessionID == id })
}

func (c *SessionCache) dropWhere(match func(*cacheEntry) bool) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen.Add(1)
	for i := c.head; i >= 0; {
		e := c.at(i)
		next := e.next
		if match(e) {
			c.remove(i)
		}
		i = next
	}
}

// Flush forgets everything (the listener does this when it (re)connects,
// since notifications may have been missed).
func (c *SessionCache) Flush() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen.Add(1)
	clear(c.index)
	c.chunks, c.used, c.free, c.head, c.tail = nil, 0, -1, -1, -1
}

// cachedSession is a Session and its User in one allocation.
type cachedSession struct {
	s Session
	u User
}

// session rebuilds the request's Session from an entry: two allocations
// (the pair and the hex hash the CSRF token is bound to).
func (e *cacheEntry) session() *Session {
	p := &cachedSession{}
	role := RoleUser
	if e.admin {
		role = RoleAdmin
	}
	name, groups, _ := strings.Cut(e.user[e.emailLen:], "\x00")
	p.u = User{ID: e.userID, Email: e.user[:e.emailLen], Name: name, Role: role, GroupNames: groups}
	p.s = Session{
		ID: e.sessionID, TokenHash: hashString(&e.key), UserID: e.userID,
		ExpiresAt: time.UnixMicro(e.expires).UTC(), CreatedAt: time.UnixMicro(e.created).UTC(),
		LastSeenAt: time.UnixMicro(e.seen).UTC(), AMR: amrByBits[e.amr], User: &p.u,
	}
	return &p.s
}

// hashString is hex.EncodeToString with one allocation, not two.
func hashString(key *[32]byte) string {
	var buf [64]byte
	hex.Encode(buf[:], key[:])
	return string(buf[:])
}
