package app

import (
	"context"
	"database/sql"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"sessiond/models"
	"sessiond/models/testdb"
)

// tcpProxy forwards to PostgreSQL and can cut every connection, so a test
// can take the database away and give it back.
type tcpProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  []net.Conn
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: target}
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.setDown(true) })
	return p
}

func (p *tcpProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		go func() { _, _ = io.Copy(up, c); up.Close() }()
		go func() { _, _ = io.Copy(c, up); c.Close() }()
	}
}

func (p *tcpProxy) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for _, c := range p.conns {
			c.Close()
		}
		p.conns = nil
	}
}

func TestFault_PostgresUnreachable_Returns503_ThenRecoversWithoutRestart(t *testing.T) {
	raw := testdb.PostgresURL(t)
	u, _ := url.Parse(raw)
	proxy := newTCPProxy(t, u.Host)
	u.Host = proxy.ln.Addr().String()
	q := u.Query()
	q.Set("connect_timeout", "2")
	u.RawQuery = q.Encode()
	db, err := models.Open(context.Background(), u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := models.Migrate(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	a := newTestApp(t, db, map[string]string{"SESSION_CACHE_TTL": "0"})
	c, _ := a.signIn("pgdown@example.com", models.RoleUser)

	proxy.setDown(true)
	for _, path := range []string{"/api/me", "/", "/readyz"} {
		resp := c.request("GET", path, nil, http.Header{"Accept": {"application/json"}})
		body := readBody(t, resp)
		if resp.StatusCode != http.StatusServiceUnavailable || strings.Contains(strings.ToLower(body), "sql") ||
			strings.Contains(body, "dial") || strings.Contains(body, "goroutine") {
			t.Fatalf("%s with the database down: %d %s", path, resp.StatusCode, body)
		}
	}
	resp, body := c.page("/")
	if resp.StatusCode != http.StatusServiceUnavailable || strings.Contains(body, `id="email"`) {
		t.Fatalf("page with the database down: %d (must not look signed out)", resp.StatusCode)
	}

	proxy.setDown(false)
	deadline := time.Now().Add(10 * time.Second)
	for !c.signedIn() {
		if time.Now().After(deadline) {
			t.Fatal("did not recover after the database came back")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestFault_PostgresBackendsTerminated_NoFiveHundred_AndRecovers(t *testing.T) {
	raw := testdb.PostgresURL(t)
	u, _ := url.Parse(raw)
	q := u.Query()
	appName := "sessiond_fault_" + strings.ReplaceAll(t.Name(), "/", "_")[:20]
	q.Set("application_name", appName)
	u.RawQuery = q.Encode()
	db, err := models.Open(context.Background(), u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := models.Migrate(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	a := newTestApp(t, db, map[string]string{"SESSION_CACHE_TTL": "0"})
	c, _ := a.signIn("pgkill@example.com", models.RoleUser)

	killer, err := sql.Open("pgx", raw)
	if err != nil {
		t.Fatal(err)
	}
	defer killer.Close()
	if _, err := killer.Exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, appName); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		resp := c.request("GET", "/api/me", nil, http.Header{"Accept": {"application/json"}})
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("after terminated backends: %d", resp.StatusCode)
		}
	}
	if !c.signedIn() {
		t.Fatal("not recovered after backends were terminated")
	}
}

// A table locked by hand (an ALTER TABLE, a psql transaction left open)
// holds every lookup behind it. PostgreSQL's statement timeout (set by
// sessiond unless DATABASE_URL does; 300 ms here) ends the wait: the
// request gets a 503 instead of hanging, a sign-in changes nothing, and
// all works again once the lock is gone.
func TestFault_PostgresTableLockedByHand_Returns503_AfterStatementTimeout(t *testing.T) {
	raw := testdb.PostgresURL(t)
	db := testdb.Open(t, raw+"&statement_timeout=300")
	a := newTestApp(t, db, map[string]string{"SESSION_CACHE_TTL": "0"})
	c, user := a.signIn("pglock@example.com", models.RoleUser)
	other := a.client()
	other.page("/login")

	locker, err := sql.Open("pgx", raw)
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Close()
	tx, err := locker.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec("LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}

	// Without the timeout a request would wait for the lock, i.e. for ever:
	// give up on it after 20 s.
	a.limit = 20 * time.Second
	resp := c.request("GET", "/api/me", nil, http.Header{"Accept": {"application/json"}})
	if body := readBody(t, resp); resp.StatusCode != http.StatusServiceUnavailable || strings.Contains(body, "statement") {
		t.Fatalf("/api/me with sessions locked: %d %s", resp.StatusCode, body)
	}
	resp = other.form("/login", url.Values{"email": {user.Email}, "password": {"password123"}})
	if body := readBody(t, resp); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("sign-in with sessions locked: %d %s", resp.StatusCode, body)
	}

	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if !c.signedIn() {
		t.Fatal("the session does not work after the lock is gone")
	}
	if n := countRows(t, db, "sessions", ""); n != 1 {
		t.Fatalf("%d sessions after the refused sign-in, want 1", n)
	}
}

// Every kind of write waits for a lock another process holds too long:
// a sign-in (create), a request whose session is due a refresh (with
// SESSION_UPDATE_AGE=0 each one is) and a sign-out (a revocation). Each
// gets 503, changes nothing, and works once the lock is gone.
func TestFault_SQLiteLockHeldPastBusyTimeout_Returns503_ThenRecovers(t *testing.T) {
	path := strings.TrimPrefix(testdb.SQLiteURL(t), "sqlite:")
	db, err := models.Open(context.Background(), "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := models.Migrate(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	a := newTestApp(t, db, map[string]string{"SESSION_UPDATE_AGE": "0"})
	in, user := a.signIn("locked@example.com", models.RoleUser)
	in.page("/account")
	c := a.client()
	c.page("/login")

	other, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	for _, w := range []struct {
		name string
		send func() *http.Response
	}{
		{"sign-in", func() *http.Response {
			return c.form("/login", url.Values{"email": {user.Email}, "password": {"password123"}})
		}},
		{"sign-out", func() *http.Response { return in.api("POST", "/logout", nil) }}, // no refresh due yet
		{"refresh", func() *http.Response {
			a.clock.Advance(time.Minute) // in's session is due an extension
			return in.api("GET", "/api/me", nil)
		}},
	} {
		resp := w.send()
		body := readBody(t, resp)
		if resp.StatusCode != http.StatusServiceUnavailable || strings.Contains(body, "locked") {
			t.Errorf("%s while the database is locked: %d %s", w.name, resp.StatusCode, body)
		}
	}
	if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	if !in.signedIn() {
		t.Error("the failed sign-out ended the session anyway")
	}
	c.login(user.Email, "password123")
}

func TestFault_PanicInHandler_Returns500_AndTheProcessServesOn(t *testing.T) {
	db := testdb.SQLite(t)
	a := newTestApp(t, db, map[string]string{"LOG_LEVEL": "error"})
	a.srv.Handler().Get("/test/panic", func(c *fiber.Ctx) error { panic("boom") })
	c := a.client()
	resp := c.request("GET", "/test/panic", nil, http.Header{"Accept": {"application/json"}})
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusInternalServerError || strings.Contains(body, "boom") || strings.Contains(body, "goroutine") {
		t.Fatalf("panic: %d %s", resp.StatusCode, body)
	}
	if resp, _ := c.page("/login"); resp.StatusCode != http.StatusOK {
		t.Fatalf("after a panic: %d", resp.StatusCode)
	}
	if !strings.Contains(a.logs.String(), "panic") {
		t.Fatal("panic not logged")
	}
}
