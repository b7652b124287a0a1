package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"text/template"
	"time"

	"sessiond/models"
	"sessiond/models/testdb"
)

// The real proxies from Debian in front of sessiond and a small upstream
// that echoes the headers it received. Host names under example.test all
// resolve to loopback through the test client's dialer, so COOKIE_DOMAIN
// works as it does in production: sessiond at login.example.test, the
// protected app at app.example.test.

const e2eDomain = "example.test"

// requireBinary finds a proxy or tool; without it the test skips, unless
// SESSIOND_REQUIRE_BROWSER=1 (CI) makes that a failure.
func requireBinary(t testing.TB, name string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("proxy tests skipped in -short mode")
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if os.Getenv("SESSIOND_REQUIRE_BROWSER") == "1" {
		t.Fatalf("%s required (SESSIOND_REQUIRE_BROWSER=1) but not found: apt-get install -y %s", name, name)
	}
	t.Skipf("%s not installed (apt-get install -y %s); set SESSIOND_REQUIRE_BROWSER=1 to fail instead", name, name)
	return ""
}

// echoUpstream is the protected app: it answers with the headers it got.
type echoUpstream struct {
	*httptest.Server
	hits atomic.Int64
}

type echoed struct {
	Path    string      `json:"path"`
	Headers http.Header `json:"headers"`
}

func newEchoUpstream(t testing.TB) *echoUpstream {
	e := &echoUpstream{}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(echoed{Path: r.URL.RequestURI(), Headers: r.Header})
	}))
	t.Cleanup(e.Close)
	return e
}

func freeListener(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func freePort(t testing.TB) string {
	ln := freeListener(t)
	defer ln.Close()
	return portOf(ln.Addr().String())
}

func portOf(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

func renderTemplate(t testing.TB, name, out string, data any) {
	t.Helper()
	tpl, err := template.ParseFiles(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := tpl.Execute(&b, data); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// startProcess runs a proxy until the test ends and waits for its port.
func startProcess(t testing.TB, addr string, logFile string, env []string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			logs, _ := os.ReadFile(logFile)
			t.Logf("%s output:\n%s\n%s", name, out.String(), logs)
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-exited:
			logs, _ := os.ReadFile(logFile)
			t.Fatalf("%s exited: %s\n%s", name, out.String(), logs)
		default:
		}
		if conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			conn.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not listen on %s: %s", name, addr, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startNginx runs nginx from testdata/nginx.conf.tmpl with its own prefix,
// pid and temp dirs, and returns its loopback address.
func startNginx(t testing.TB, sessiondAddr, upstreamAddr string) string {
	bin := requireBinary(t, "nginx")
	dir := t.TempDir()
	addr := "127.0.0.1:" + freePort(t)
	conf := filepath.Join(dir, "nginx.conf")
	renderTemplate(t, "nginx.conf.tmpl", conf, map[string]string{
		"Dir": dir, "Listen": addr, "Sessiond": sessiondAddr, "Upstream": upstreamAddr,
	})
	log := filepath.Join(dir, "error.log")
	startProcess(t, addr, log, nil, bin, "-p", dir, "-e", log, "-c", conf, "-g", "daemon off;")
	return addr
}

// startCaddy runs caddy from testdata/Caddyfile.tmpl (no admin endpoint,
// no automatic https, its config and data dirs in a temp dir).
func startCaddy(t testing.TB, sessiondAddr, upstreamAddr string) string {
	return startCaddyFrom(t, "Caddyfile.tmpl", sessiondAddr, upstreamAddr)
}

func startCaddyFrom(t testing.TB, tmpl, sessiondAddr, upstreamAddr string) string {
	bin := requireBinary(t, "caddy")
	dir := t.TempDir()
	port := freePort(t)
	conf := filepath.Join(dir, "Caddyfile")
	renderTemplate(t, tmpl, conf, map[string]string{
		"Port": port, "Sessiond": sessiondAddr, "Upstream": upstreamAddr,
	})
	env := []string{"HOME=" + dir, "XDG_CONFIG_HOME=" + dir, "XDG_DATA_HOME=" + dir}
	addr := "127.0.0.1:" + port
	startProcess(t, addr, filepath.Join(dir, "none"), env, bin, "run", "--config", conf, "--adapter", "caddyfile")
	return addr
}

// e2eBrowser is an HTTP client that resolves every *.example.test name to
// loopback (keeping the port) and keeps cookies like a browser, but shows
// each redirect instead of following it.
func e2eBrowser(t testing.TB) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil || !hostWithin(host, e2eDomain) {
			return nil, &net.AddrError{Err: "not a test host", Addr: addr}
		}
		return dialer.DialContext(ctx, network, "127.0.0.1:"+port)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{
		Jar: jar, Transport: tr, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func e2eGet(t testing.TB, c *http.Client, rawURL string, h http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("GET", rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", rawURL, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// proxyJourney is one user's whole story through a proxy.
// passesCookie: the proxy hands the cookie sessiond re-issues on an
// extension to the browser; nginx: its config also has /admin-only/.
func proxyJourney(t *testing.T, start func(t testing.TB, sessiondAddr, upstreamAddr string) string, nginx, passesCookie bool) {
	db := testdb.SQLite(t)
	ln := freeListener(t)
	loginBase := "http://login." + e2eDomain + ":" + portOf(ln.Addr().String())
	a, _ := liveServerOn(t, ln, db, map[string]string{"BASE_URL": loginBase, "COOKIE_DOMAIN": e2eDomain, "LOG_LEVEL": "warn"})
	up := newEchoUpstream(t)
	proxyAddr := start(t, ln.Addr().String(), up.Listener.Addr().String())
	user := testdb.CreateUser(t, db, "e2e@example.com", models.RoleUser)
	admin := testdb.CreateUser(t, db, "boss@example.com", models.RoleAdmin)
	br := e2eBrowser(t)
	original := "http://app." + e2eDomain + ":" + portOf(proxyAddr) + "/reports/q3?year=2026&view=full"

	// 1. No cookie: the proxy sends the browser to sign in, with next.
	resp, _ := e2eGet(t, br, original, nil)
	wantLogin := loginBase + "/login?next=" + url.QueryEscape(original)
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != wantLogin {
		t.Fatalf("no cookie: %d %q, want 302 %q", resp.StatusCode, resp.Header.Get("Location"), wantLogin)
	}
	if up.hits.Load() != 0 {
		t.Fatal("the upstream was reached without a session")
	}
	resp, _ = e2eGet(t, br, original, http.Header{"Accept": {"application/json"}})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("non-browser without cookie: %d, want 401", resp.StatusCode)
	}

	// 2. Sign in on sessiond: back at the original URL.
	_, page := e2eGet(t, br, wantLogin, nil)
	csrf := csrfMeta.FindStringSubmatch(page)
	if csrf == nil || !strings.Contains(page, `name="next"`) {
		t.Fatalf("sign-in page without CSRF token or next: %s", page)
	}
	form := url.Values{"email": {user.Email}, "password": {"password123"}, "_csrf": {csrf[1]}, "next": {original}}
	resp, err := br.PostForm(loginBase+"/login", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != original {
		t.Fatalf("after sign-in: %d %q, want back at %q", resp.StatusCode, resp.Header.Get("Location"), original)
	}

	// 3. Through the proxy: the upstream sees who it is, and a Remote-User
	// the client made up is overwritten.
	resp, body := e2eGet(t, br, original, http.Header{"Remote-User": {"mallory@example.com"}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("signed in through the proxy: %d %s", resp.StatusCode, body)
	}
	var got echoed
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("upstream answer %q: %v", body, err)
	}
	want := map[string]string{"Remote-User": user.Email, "Remote-Email": user.Email, "Remote-Name": user.Name, "Remote-Groups": models.RoleUser}
	for k, v := range want {
		if vs := got.Headers.Values(k); len(vs) != 1 || vs[0] != v {
			t.Errorf("upstream %s = %q, want %q", k, vs, v)
		}
	}
	if got.Path != "/reports/q3?year=2026&view=full" {
		t.Errorf("upstream path %q", got.Path)
	}
	if nginx {
		resp, _ = e2eGet(t, br, "http://app."+e2eDomain+":"+portOf(proxyAddr)+"/admin-only/x", nil)
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("role=admin location as a user: %d, want 403", resp.StatusCode)
		}
	}

	if v := resp.Header.Values("Set-Cookie"); len(v) != 0 {
		t.Errorf("no refresh due, yet Set-Cookie %q", v)
	}

	// A request after SESSION_UPDATE_AGE extends the session; nginx passes
	// the re-issued cookie on (auth_request_set + add_header), and so does
	// Caddy's written-out form. The forward_auth shorthand copies only the
	// listed request headers, so there the browser keeps its old cookie
	// lifetime (documented in the README).
	a.clock.Advance(25 * time.Hour)
	resp, _ = e2eGet(t, br, original, nil)
	refreshed := findCookie(resp, a.srv.cfg.CookieName())
	if resp.StatusCode != http.StatusOK || a.srv.Sessions().ExtendWrites.Load() != 1 {
		t.Fatalf("after update age: %d, extend writes %d", resp.StatusCode, a.srv.Sessions().ExtendWrites.Load())
	}
	if passesCookie && (refreshed == nil || refreshed.Domain != e2eDomain || refreshed.MaxAge <= 0) {
		t.Fatalf("the proxy did not pass the re-issued cookie on: %q", resp.Header.Values("Set-Cookie"))
	}
	if !passesCookie && refreshed != nil {
		t.Logf("this proxy now passes the re-issued cookie on: the README's caveat can go")
	}

	// 4. An admin revokes that session in sessiond: the next proxied
	// request is refused.
	var sess models.Session
	if err := db.NewSelect().Model(&sess).Where("user_id = ?", user.ID).Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := a.srv.sessions.DeleteSessionByID(context.Background(), sess.ID, models.EventSessionRevoked, models.Audit{ActorID: admin.ID}); err != nil {
		t.Fatal(err)
	}
	hits := up.hits.Load()
	resp, _ = e2eGet(t, br, original, nil)
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != wantLogin {
		t.Fatalf("after revoke: %d %q, want sent to sign in", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = e2eGet(t, br, original, http.Header{"Accept": {"*/*"}})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("after revoke, non-browser: %d", resp.StatusCode)
	}
	if up.hits.Load() != hits {
		t.Fatal("the upstream was reached after the session was revoked")
	}
}

func TestProxy_Nginx_SignInRoundTripHeadersAndRevoke(t *testing.T) {
	proxyJourney(t, startNginx, true, true)
}

func TestProxy_Caddy_SignInRoundTripHeadersAndRevoke(t *testing.T) {
	proxyJourney(t, startCaddy, false, false)
}

func TestProxy_CaddyWrittenOut_AlsoPassesTheRefreshedCookie(t *testing.T) {
	proxyJourney(t, func(t testing.TB, s, u string) string { return startCaddyFrom(t, "Caddyfile-cookie.tmpl", s, u) }, false, true)
}

// TestProxy_READMEConfigIsTheTestedOne: every line of the nginx block the
// tests run appears in the README's, addresses aside, and the Caddyfile's
// forward_auth lines and the written-out form's too, so the copy-paste
// configuration is the proven one.
func TestProxy_READMEConfigIsTheTestedOne(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string]bool{}
	for _, l := range strings.Split(string(readme), "\n") {
		if i := strings.Index(l, " #"); i >= 0 {
			l = l[:i]
		}
		lines[strings.Join(strings.Fields(l), " ")] = true
	}
	check := func(file, from, to string, addr *strings.Replacer) {
		b, err := os.ReadFile(filepath.Join("testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		i, j := strings.Index(s, from), strings.Index(s, to)
		if i < 0 || j < i {
			t.Fatalf("%s: no %q…%q section", file, from, to)
		}
		for _, l := range strings.Split(s[i:j], "\n") {
			l = strings.Join(strings.Fields(addr.Replace(l)), " ")
			if l != "" && !strings.HasPrefix(l, "#") && !lines[l] {
				t.Errorf("%s: %q is not in the README", file, l)
			}
		}
	}
	check("nginx.conf.tmpl", "# --- README block starts ---\n", "# --- README block ends ---",
		strings.NewReplacer("http://sessiond", "http://127.0.0.1:8080", "http://app", "http://127.0.0.1:3000"))
	check("Caddyfile.tmpl", "\tforward_auth", "\treverse_proxy",
		strings.NewReplacer("{{.Sessiond}}", "127.0.0.1:8080"))
	check("Caddyfile-cookie.tmpl", "\treverse_proxy {{.Sessiond}}", "\treverse_proxy {{.Upstream}}",
		strings.NewReplacer("{{.Sessiond}}", "127.0.0.1:8080"))
}
