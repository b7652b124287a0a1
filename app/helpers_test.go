package app

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"sessiond/models"
	"sessiond/models/testdb"
)

// testBase is the URL test requests use; cookies are scoped to it.
const testBase = "http://sessiond.test"

// testApp is a server on a throwaway database with an adjustable clock.
type testApp struct {
	t     testing.TB
	srv   *Server
	db    *models.DB
	clock *testdb.Clock
	logs  *testdb.SyncBuffer
	// limit, when set, fails a request that has no answer by then (a test
	// of something that used to hang); zero waits for ever.
	limit time.Duration
}

// testConfig is the default configuration with overrides from env.
func testConfig(t testing.TB, db *models.DB, env map[string]string) Config {
	t.Helper()
	cfg, err := LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg
}

// TestMain runs the tests, or, with SESSIOND_SERVE_HELPER=1, is the
// sessiond command itself (`serve`, or the arguments in
// SESSIOND_HELPER_ARGS): tests that need the real command in a process of
// its own (under a file limit, or to kill it) start this test binary.
func TestMain(m *testing.M) {
	if os.Getenv("SESSIOND_SERVE_HELPER") != "1" {
		os.Exit(m.Run())
	}
	args := strings.Fields(os.Getenv("SESSIOND_HELPER_ARGS"))
	if len(args) == 0 {
		args = []string{"serve"}
	}
	ctx, env, stop := WithSignals(Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv})
	err := Run(ctx, args, env)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "serve:", err)
		os.Exit(1)
	}
}

func newTestApp(t testing.TB, db *models.DB, env map[string]string, with ...func(*Options)) *testApp {
	t.Helper()
	if env == nil {
		env = map[string]string{}
	}
	if _, ok := env["LOG_LEVEL"]; !ok {
		env["LOG_LEVEL"] = "debug"
	}
	cfg := testConfig(t, db, env)
	clock := testdb.NewClock()
	logs := &testdb.SyncBuffer{}
	opts := Options{Now: clock.Now}
	for _, f := range with {
		f(&opts)
	}
	srv, err := New(context.Background(), cfg, db, newLogger(cfg.LogLevel, "text", logs), opts)
	if err != nil {
		t.Fatalf("new server: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	return &testApp{t: t, srv: srv, db: db, clock: clock, logs: logs}
}

// do runs one request through the app without a network.
func (a *testApp) do(req *http.Request) *http.Response {
	a.t.Helper()
	ms := -1 // Fiber's "no timeout"
	if a.limit > 0 {
		ms = int(a.limit.Milliseconds())
	}
	resp, err := a.srv.Handler().Test(req, ms)
	if err != nil {
		a.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	checkAgainstSpec(a.t, req, resp)
	return resp
}

// client is a browser: a cookie jar and the CSRF token of the last page.
type client struct {
	app  *testApp
	jar  *cookiejar.Jar
	base string
	csrf string
}

func (a *testApp) client() *client {
	jar, _ := cookiejar.New(nil)
	base := testBase
	if a.srv.cfg.BaseURL != nil {
		base = a.srv.cfg.BaseURL.String()
	}
	return &client{app: a, jar: jar, base: base}
}

// browserAccept is what Chromium sends for a page.
const browserAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"

var csrfMeta = regexp.MustCompile(`<meta name="csrf-token" content="([^"]*)">`)

// request sends a request with the jar's cookies and keeps what it sets.
func (c *client) request(method, path string, body io.Reader, header http.Header) *http.Response {
	c.app.t.Helper()
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.app.t.Fatal(err)
	}
	req.Header.Set("Accept", browserAccept) // a browser always says what it accepts
	for k, v := range header {
		req.Header[k] = v
	}
	for _, ck := range c.jar.Cookies(req.URL) {
		req.AddCookie(ck)
	}
	resp := c.app.do(req)
	if cks := resp.Cookies(); len(cks) > 0 {
		c.jar.SetCookies(req.URL, cks)
	}
	return resp
}

// page GETs an HTML page, remembering its CSRF token, and returns the body.
func (c *client) page(path string) (*http.Response, string) {
	c.app.t.Helper()
	resp := c.request("GET", path, nil, nil)
	body := readBody(c.app.t, resp)
	if m := csrfMeta.FindStringSubmatch(body); m != nil {
		c.csrf = m[1]
	}
	return resp, body
}

// form POSTs a form with the current CSRF token.
func (c *client) form(path string, v url.Values) *http.Response {
	c.app.t.Helper()
	if v == nil {
		v = url.Values{}
	}
	if _, ok := v["_csrf"]; !ok {
		v.Set("_csrf", c.csrf)
	}
	h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	return c.request("POST", path, strings.NewReader(v.Encode()), h)
}

// api sends a JSON-accepting request with the CSRF header.
func (c *client) api(method, path string, v url.Values) *http.Response {
	c.app.t.Helper()
	h := http.Header{"Accept": {"application/json"}, "X-Csrf-Token": {c.csrf}}
	var body io.Reader
	if v != nil {
		h.Set("Content-Type", "application/x-www-form-urlencoded")
		body = strings.NewReader(v.Encode())
	}
	return c.request(method, path, body, h)
}

// signIn creates a user with role (password "password123") and returns a
// client signed in as them: the start of most tests.
func (a *testApp) signIn(email, role string) (*client, *models.User) {
	a.t.Helper()
	u := testdb.CreateUser(a.t, a.db, email, role)
	c := a.client()
	c.login(u.Email, "password123")
	return c, u
}

// login signs in through the form and fails the test if it does not work.
func (c *client) login(email, password string) {
	c.app.t.Helper()
	c.page("/login")
	resp := c.form("/login", url.Values{"email": {email}, "password": {password}})
	if resp.StatusCode != http.StatusSeeOther {
		c.app.t.Fatalf("login %s: status %d: %s", email, resp.StatusCode, readBody(c.app.t, resp))
	}
	c.page("/")
}

// cookie returns the session cookie's value in the jar.
func (c *client) cookie() string {
	u, _ := url.Parse(c.base)
	for _, ck := range c.jar.Cookies(u) {
		if ck.Name == c.app.srv.cfg.CookieName() {
			return ck.Value
		}
	}
	return ""
}

func readBody(t testing.TB, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// signedIn asks /api/me whether the client is signed in.
func (c *client) signedIn() bool {
	c.app.t.Helper()
	resp := c.request("GET", "/api/me", nil, http.Header{"Accept": {"application/json"}})
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return true
	case http.StatusUnauthorized:
		return false
	}
	c.app.t.Fatalf("/api/me: unexpected status %d", resp.StatusCode)
	return false
}

// countRows counts rows of a table matching an optional where clause.
func countRows(t testing.TB, db *models.DB, table, where string, args ...any) int {
	t.Helper()
	q := db.NewSelect().Table(table)
	if where != "" {
		q = q.Where(where, args...)
	}
	n, err := q.Count(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return int(n)
}

// signInAs makes a session for userID as a password sign-in would,
// without the form.
func signInAs(m *models.SessionManager, ctx context.Context, userID int64, c models.Client) (string, *models.Session, error) {
	return m.SignInWith(ctx, userID, c, models.Proof{AMR: models.MethodPassword, Strong: true})
}
