package models_test

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"sessiond/jobs"
	"sessiond/models"
	"sessiond/models/testdb"
)

// watched is a cached manager following the revocation log, once it has
// read the log for the first time.
func watched(t *testing.T, db *models.DB) (*models.SessionManager, *models.SessionCache, *models.RevocationWatch) {
	t.Helper()
	m, c := cachedManager(t, db, testPolicy, nil)
	w := m.WatchRevocations(func(err error) { t.Logf("revocation watch: %v", err) })
	t.Cleanup(func() { w.Close() })
	waitTrusted(t, m)
	return m, c, w
}

func waitTrusted(t *testing.T, m *models.SessionManager) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !m.Trusted() {
		if time.Now().After(deadline) {
			t.Fatal("the revocation log was never read")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// refusedWithinBound authenticates tok until it is refused and fails if a
// request that began more than RevocationBound after the revocation (at
// since) was still admitted. It returns how long refusal took.
func refusedWithinBound(t *testing.T, m *models.SessionManager, tok string, since time.Time) time.Duration {
	t.Helper()
	for {
		began := time.Now()
		_, err := m.Authenticate(context.Background(), tok, theClient)
		if errors.Is(err, models.ErrNotFound) {
			return began.Sub(since)
		}
		if err != nil {
			t.Fatalf("Authenticate: %v", err)
		}
		if began.Sub(since) > models.RevocationBound {
			t.Fatalf("a request %v after the revocation was still admitted (bound %v)", began.Sub(since), models.RevocationBound)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// hits is the cache's hit count.
func hits(c *models.SessionCache) int64 { h, _ := c.Counts(); return h }

// A session deleted by raw SQL from another connection pool (another
// process, as far as this one can tell) is refused within the bound, and
// a role changed by raw SQL shows on the next request after it — with the
// cache on and an hour's TTL. A bystander stays cached: the log drops what
// it names, not everything.
func TestRevocationLog_RawSQLDeleteAndRoleChange_SeenWithinTheBound(t *testing.T) {
	testdb.EachURL(t, func(t *testing.T, url string) {
		db, other := testdb.Open(t, url), testdb.Open(t, url)
		m, c, _ := watched(t, db)
		us := insertUsers(t, db, "rawsql", 3)
		gone, _ := createSession(t, m, us[0].ID, m.Now().Add(time.Hour))
		promoted, _ := createSession(t, m, us[1].ID, m.Now().Add(time.Hour))
		bystander, _ := createSession(t, m, us[2].ID, m.Now().Add(time.Hour))
		for _, tok := range []string{gone, promoted, bystander} {
			warm(t, m, c, tok)
		}

		if _, err := other.ExecContext(context.Background(), "DELETE FROM sessions WHERE token_hash = ?", models.HashToken(gone)); err != nil {
			t.Fatal(err)
		}
		took := refusedWithinBound(t, m, gone, time.Now())
		t.Logf("raw-SQL delete refused after %v", took)

		if _, err := other.ExecContext(context.Background(), "UPDATE users SET role = 'admin' WHERE id = ?", us[1].ID); err != nil {
			t.Fatal(err)
		}
		changed := time.Now()
		for {
			began := time.Now()
			v, err := m.Authenticate(context.Background(), promoted, theClient)
			if err != nil {
				t.Fatalf("Authenticate after the role change: %v", err)
			}
			if v.Session.User.Role == models.RoleAdmin {
				break
			}
			if began.Sub(changed) > models.RevocationBound {
				t.Fatalf("role still %q %v after a raw-SQL change", v.Session.User.Role, began.Sub(changed))
			}
			time.Sleep(5 * time.Millisecond)
		}
		before := hits(c)
		if _, err := m.Authenticate(context.Background(), bystander, theClient); err != nil || hits(c) != before+1 {
			t.Fatalf("the bystander's session was not answered from the cache: %v", err)
		}
	})
}

// The cleanup job prunes log rows older than a day, never the newest. An
// instance that stopped reading the log (down for an hour) serves no
// revoked session meanwhile, and when it reads again it replays the rows it
// missed — keeping its other entries; one whose rows were pruned unread
// empties its cache instead.
func TestRevocationLog_PrunedByCleanup_AndAResumedInstanceCatchesUp(t *testing.T) {
	testdb.EachURL(t, func(t *testing.T, url string) {
		ctx := context.Background()
		db, other := testdb.Open(t, url), testdb.Open(t, url)
		m, c, w := watched(t, db)
		us := insertUsers(t, db, "resume", 3)
		gone, _ := createSession(t, m, us[0].ID, m.Now().Add(48*time.Hour))
		kept, _ := createSession(t, m, us[1].ID, m.Now().Add(48*time.Hour))
		later, _ := createSession(t, m, us[2].ID, m.Now().Add(48*time.Hour))
		warm(t, m, c, gone)
		warm(t, m, c, kept)
		warm(t, m, c, later)
		w.Close() // down

		exec(t, other, "DELETE FROM sessions WHERE token_hash = ?", models.HashToken(gone))
		exec(t, other, "UPDATE revocations SET at = ?", other.T(time.Now().Add(-time.Hour)))
		if _, err := (&jobs.Cleanup{DB: other, BatchSize: 1000}).Run(ctx, "test", models.Audit{}); err != nil {
			t.Fatal(err)
		}
		if n := countRows(t, other, "SELECT count(*) FROM revocations WHERE token_hash = ?", models.HashToken(gone)); n != 1 {
			t.Fatalf("an hour-old log row was pruned (%d left)", n)
		}
		time.Sleep(models.RevocationBound)
		if _, err := m.Authenticate(ctx, gone, theClient); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("a stopped instance admitted a revoked session: %v", err)
		}

		w2 := m.WatchRevocations(nil)
		waitTrusted(t, m)
		before := hits(c)
		if _, err := m.Authenticate(ctx, kept, theClient); err != nil || hits(c) != before+1 {
			t.Fatalf("catching up emptied the cache instead of replaying the log: %v", err)
		}
		if _, err := m.Authenticate(ctx, gone, theClient); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("after catching up: %v", err)
		}
		w2.Close()

		// Down for two days: the rows it missed are pruned, so it starts over.
		exec(t, other, "DELETE FROM sessions WHERE token_hash = ?", models.HashToken(later))
		exec(t, other, "UPDATE users SET name = 'renamed' WHERE id = ?", us[0].ID) // a newer row, kept as the newest
		exec(t, other, "UPDATE revocations SET at = ?", other.T(time.Now().Add(-48*time.Hour)))
		if _, err := (&jobs.Cleanup{DB: other, BatchSize: 1000}).Run(ctx, "test", models.Audit{}); err != nil {
			t.Fatal(err)
		}
		if n := countRows(t, other, "SELECT count(*) FROM revocations"); n != 1 {
			t.Fatalf("%d log rows after pruning two-day-old rows, want the newest alone", n)
		}
		time.Sleep(models.RevocationBound) // the last read before going down no longer counts
		w3 := m.WatchRevocations(nil)
		defer w3.Close()
		waitTrusted(t, m)
		if c.Len() != 0 {
			t.Fatalf("%d entries kept although the log was pruned past this instance", c.Len())
		}
		if _, err := m.Authenticate(ctx, later, theClient); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("after the pruned gap: %v", err)
		}
	})
}

// Log rows typed by hand that name nothing known, or nothing at all, are
// ignored: nothing is dropped, and the next real row is still applied.
func TestRevocationLog_RowsNamingNothing_AreIgnored(t *testing.T) {
	testdb.EachURL(t, func(t *testing.T, url string) {
		db, other := testdb.Open(t, url), testdb.Open(t, url)
		m, c, _ := watched(t, db)
		us := insertUsers(t, db, "ignored", 2)
		tok, _ := createSession(t, m, us[0].ID, m.Now().Add(time.Hour))
		gone, _ := createSession(t, m, us[1].ID, m.Now().Add(time.Hour))
		warm(t, m, c, tok)
		warm(t, m, c, gone)
		for _, row := range []string{
			"INSERT INTO revocations (token_hash) VALUES ('garbage')",
			"INSERT INTO revocations (token_hash) VALUES ('" + strings.Repeat("AB", 32) + "')",
			"INSERT INTO revocations (user_id) VALUES (987654321)",
			"INSERT INTO revocations (token_hash, user_id) VALUES (NULL, NULL)",
		} {
			exec(t, other, row)
		}
		exec(t, other, "DELETE FROM sessions WHERE token_hash = ?", models.HashToken(gone))
		refusedWithinBound(t, m, gone, time.Now())
		before := hits(c)
		if _, err := m.Authenticate(context.Background(), tok, theClient); err != nil || hits(c) != before+1 {
			t.Fatalf("rows naming nothing dropped a session: %v", err)
		}
	})
}

// While the log cannot be read the cache stops answering once the bound
// has passed — requests go to the database, which refuses what was revoked
// — and the watch keeps trying: when the log is back, so are cache hits.
func TestRevocationLog_Unreadable_CacheWaitsAndWatchRecovers(t *testing.T) {
	testdb.EachURL(t, func(t *testing.T, url string) {
		ctx := context.Background()
		db, other := testdb.Open(t, url), testdb.Open(t, url)
		m, c, _ := watched(t, db)
		u := insertUsers(t, db, "unreadable", 1)[0]
		tok, _ := createSession(t, m, u.ID, m.Now().Add(time.Hour))
		warm(t, m, c, tok)
		exec(t, other, "ALTER TABLE revocations RENAME TO revocations_away")
		time.Sleep(models.RevocationBound + models.RevocationPoll)
		if m.Trusted() {
			t.Fatal("the cache still answers although the log has not been read for longer than the bound")
		}
		before, lookups := hits(c), m.Lookups.Load()
		if _, err := m.Authenticate(ctx, tok, theClient); err != nil {
			t.Fatal(err)
		}
		if hits(c) != before || m.Lookups.Load() != lookups+1 {
			t.Fatal("a request was answered from a cache the log could not confirm")
		}
		exec(t, other, "ALTER TABLE revocations_away RENAME TO revocations")
		waitTrusted(t, m)
		warm(t, m, c, tok)
	})
}

// Two instances on one PostgreSQL: B's revocations reach A through NOTIFY,
// and when A's listener connection is killed mid-test they still reach it
// within the bound (the poll covers the gap; the listener replays the log
// when it is back).
func TestRevocationLog_TwoInstances_ListenerKilled_StillConverge(t *testing.T) {
	url := testdb.PostgresURL(t)
	ctx := context.Background()
	dbA, dbB := testdb.Open(t, url), testdb.Open(t, url)
	mA, cA, wA := watched(t, dbA)
	mB, _, _ := watched(t, dbB)
	l := wA.Listener()
	select {
	case <-l.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("listener never subscribed")
	}
	us := insertUsers(t, dbA, "twoinst", 3)
	toks := make([]string, 3)
	for i, u := range us {
		toks[i], _ = createSession(t, mA, u.ID, mA.Now().Add(time.Hour))
		warm(t, mA, cA, toks[i])
	}
	if _, err := mB.DeleteUserSessions(ctx, us[0].ID, models.Audit{}); err != nil {
		t.Fatal(err)
	}
	refusedWithinBound(t, mA, toks[0], time.Now())

	old := l.BackendPID()
	exec(t, dbB, "SELECT pg_terminate_backend(?)", old)
	if _, err := mB.DeleteUserSessions(ctx, us[1].ID, models.Audit{}); err != nil {
		t.Fatal(err)
	}
	refusedWithinBound(t, mA, toks[1], time.Now())
	deadline := time.Now().Add(10 * time.Second)
	for !(l.Connected() && l.BackendPID() != old) {
		if time.Now().After(deadline) {
			t.Fatal("listener did not reconnect")
		}
		time.Sleep(10 * time.Millisecond)
	}
	exec(t, dbB, "DELETE FROM sessions WHERE token_hash = ?", models.HashToken(toks[2]))
	refusedWithinBound(t, mA, toks[2], time.Now())
}

func exec(t *testing.T, db *models.DB, query string, args ...any) {
	t.Helper()
	if _, err := db.ExecContext(context.Background(), query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// When PostgreSQL goes away, lookups the cache may no longer answer fail
// as unavailable (a 503 upstream) instead of admitting from a cache the
// log cannot confirm; the watch survives, and once the database is back a
// session revoked meanwhile is refused and the others are admitted again.
func TestRevocationLog_PostgresAway_UnavailableThenRecovers(t *testing.T) {
	base := testdb.PostgresURL(t)
	p := startProxy(t, base)
	db, other := testdb.Open(t, p.url), testdb.Open(t, base)
	m, c, _ := watched(t, db)
	us := insertUsers(t, db, "away", 2)
	gone, _ := createSession(t, m, us[0].ID, m.Now().Add(time.Hour))
	kept, _ := createSession(t, m, us[1].ID, m.Now().Add(time.Hour))
	warm(t, m, c, gone)
	warm(t, m, c, kept)

	p.cut()
	exec(t, other, "DELETE FROM sessions WHERE token_hash = ?", models.HashToken(gone))
	time.Sleep(models.RevocationBound + models.RevocationPoll)
	for _, tok := range []string{gone, kept} {
		if _, err := m.Authenticate(context.Background(), tok, theClient); !errors.Is(err, models.ErrUnavailable) {
			t.Fatalf("with the database away: %v, want ErrUnavailable", err)
		}
	}
	p.restore()
	waitTrusted(t, m)
	if _, err := m.Authenticate(context.Background(), gone, theClient); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("a session revoked while the database was away: %v", err)
	}
	if _, err := m.Authenticate(context.Background(), kept, theClient); err != nil {
		t.Fatalf("a live session once the database is back: %v", err)
	}
}

// tcpProxy forwards a port to PostgreSQL, and can cut every connection and
// refuse new ones (the database going away) and then accept again.
type tcpProxy struct {
	t      *testing.T
	target string
	addr   string
	url    string

	mu    sync.Mutex
	ln    net.Listener
	conns []net.Conn
}

func startProxy(t *testing.T, rawURL string) *tcpProxy {
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{t: t, target: u.Host}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	u.Host = p.addr
	p.url = u.String()
	p.serve(ln)
	t.Cleanup(p.cut)
	return p
}

func (p *tcpProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", p.target)
			if err != nil {
				in.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, in, out)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(out, in); out.Close() }()
			go func() { _, _ = io.Copy(in, out); in.Close() }()
		}
	}()
}

func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *tcpProxy) restore() {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatal(err)
	}
	p.serve(ln)
}

// TestRevocationLatency_RawSQLDelete prints, for `task bench`, the time
// from a raw-SQL delete (committed by another connection pool) to the
// first refusal, over 100 cached sessions: p50 and p99. It asserts only
// the bound.
func TestRevocationLatency_RawSQLDelete(t *testing.T) {
	if os.Getenv("SESSIOND_BENCH") != "1" {
		t.Skip("latency figure: run with SESSIOND_BENCH=1 (task bench)")
	}
	testdb.EachURL(t, func(t *testing.T, url string) {
		db, other := testdb.Open(t, url), testdb.Open(t, url)
		m, c, _ := watched(t, db)
		const n = 100
		us := insertUsers(t, db, "latency", n)
		toks := make([]string, n)
		for i, u := range us {
			toks[i], _ = createSession(t, m, u.ID, m.Now().Add(time.Hour))
			warm(t, m, c, toks[i])
		}
		took := make([]time.Duration, n)
		for i, tok := range toks {
			time.Sleep(rand.N(models.RevocationPoll)) // out of step with the polls, as a real delete is
			exec(t, other, "DELETE FROM sessions WHERE token_hash = ?", models.HashToken(tok))
			took[i] = refusedWithinBound(t, m, tok, time.Now())
		}
		slices.Sort(took)
		t.Logf("%s: raw-SQL delete → refusal over %d sessions: p50 %v, p99 %v, max %v", strings.Split(t.Name(), "/")[1], n,
			took[n/2].Round(time.Millisecond), took[n*99/100].Round(time.Millisecond), took[n-1].Round(time.Millisecond))
	})
}
