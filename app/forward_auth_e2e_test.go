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
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"text/template"
	"time"

	"sessiond/models"
	"sessiond/models/testdb"
)

// The real proxies from Debian in front of sessiond and a small upstream
// that echoes the headers it received, configured with the README's own
// blocks (taken from README.md by the test, addresses and ports filled
// in). Host names under example.test (and *.localhost, as browsers do)
// resolve to loopback through the test client's dialer, so COOKIE_DOMAIN
// works as it does in production: sessiond at login.<domain>, the
// protected app at app1.<domain>, both behind the proxy.

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

// readmeSnippet is the one fenced block of README.md in lang that holds
// marker, as written there.
func readmeSnippet(t testing.TB, lang, marker string) string {
	t.Helper()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	fence := regexp.MustCompile("(?ms)^```" + regexp.QuoteMeta(lang) + "\n(.*?)^```$")
	var found []string
	for _, m := range fence.FindAllStringSubmatch(string(readme), -1) {
		if strings.Contains(m[1], marker) {
			found = append(found, m[1])
		}
	}
	if len(found) != 1 {
		t.Fatalf("README.md has %d %s blocks holding %q, want one", len(found), lang, marker)
	}
	return found[0]
}

// substitute replaces each old with its new in s (pairs), failing when an
// old is not there: the README and the tests must not drift apart.
func substitute(t testing.TB, s string, pairs ...string) string {
	t.Helper()
	for i := 0; i < len(pairs); i += 2 {
		if !strings.Contains(s, pairs[i]) {
			t.Fatalf("the README snippet no longer holds %q:\n%s", pairs[i], s)
		}
		s = strings.ReplaceAll(s, pairs[i], pairs[i+1])
	}
	return s
}

// startNginx runs nginx with the README's nginx blocks (inside
// testdata/nginx.conf.tmpl: its own prefix, pid and temp dirs) on listen.
func startNginx(t testing.TB, listen, sessiondAddr, upstreamAddr string) {
	bin := requireBinary(t, "nginx")
	dir := t.TempDir()
	blocks := substitute(t, readmeSnippet(t, "nginx", "auth_request"),
		"listen 443 ssl;", "listen "+listen+";",
		"https://login.example.com/logout", "http://login.example.com:"+portOf(listen)+"/logout",
		"example.com", e2eDomain,
		"http://127.0.0.1:8080", "http://sessiond", // upstreams with keepalive, as the README's comment says
		"http://127.0.0.1:3000", "http://app")
	blocks += moreNginxApps(t, blocks)
	conf := filepath.Join(dir, "nginx.conf")
	renderTemplate(t, "nginx.conf.tmpl", conf, map[string]string{
		"Dir": dir, "Listen": listen, "Sessiond": sessiondAddr, "Upstream": upstreamAddr, "README": blocks,
	})
	log := filepath.Join(dir, "error.log")
	startProcess(t, listen, log, nil, bin, "-p", dir, "-e", log, "-c", conf, "-g", "daemon off;")
}

// moreNginxApps are the README's app block again, as a user adds apps:
// app2 as written, and app3 with the README's lines for ?mfa=1.
func moreNginxApps(t testing.TB, blocks string) string {
	i := strings.Index(blocks, "# each protected app")
	if i < 0 {
		t.Fatalf("the README's nginx blocks lost their app block:\n%s", blocks)
	}
	app := blocks[i:]
	var mfa []string
	for _, line := range strings.Split(strings.TrimSpace(readmeSnippet(t, "nginx", "mfa=1")), "\n") {
		line, _, _ = strings.Cut(line, "#")
		mfa = append(mfa, strings.ReplaceAll(strings.TrimSpace(line), "http://127.0.0.1:8080", "http://sessiond"))
	}
	if len(mfa) != 2 {
		t.Fatalf("the README's ?mfa=1 lines: %q", mfa)
	}
	app3 := substitute(t, strings.ReplaceAll(app, "app1.", "app3."),
		"proxy_pass http://sessiond/auth/verify?mode=nginx;", mfa[0],
		"rewrite ^ /auth/verify? break;", mfa[1])
	return "\n" + strings.ReplaceAll(app, "app1.", "app2.") + "\n" + app3
}

// Markers of the README's Caddyfiles.
const (
	caddyShorthand  = "role=admin"      // forward_auth
	caddyWrittenOut = "handle_response" // the cookie reaches the browser
	caddyLocal      = "localhost"       // runs on this machine alone
)

// startCaddy runs caddy with the README's Caddyfile holding marker on
// listen. Its public names become http:// names under example.test on the
// port; the local one keeps its names and gets the port. No admin
// endpoint (tests run several at once), config and data in a temp dir.
func startCaddy(t testing.TB, marker, listen, sessiondAddr, upstreamAddr string) {
	bin := requireBinary(t, "caddy")
	dir := t.TempDir()
	port := portOf(listen)
	conf := readmeSnippet(t, "caddyfile", marker)
	if marker == caddyLocal {
		conf = substitute(t, conf, ":8081 {", ":"+port+" {", "\tauto_https off\n", "\tauto_https off\n\tadmin off\n")
	} else {
		// "each protected app": a second one, as a user adds it.
		if i := strings.Index(conf, "app1.example.com {"); i >= 0 {
			conf += "\n" + strings.ReplaceAll(conf[i:], "app1.example.com", "app2.example.com")
		}
		sites := regexp.MustCompile(`(?m)^([a-z0-9-]+)\.example\.com \{$`)
		if !sites.MatchString(conf) {
			t.Fatalf("no example.com site in the README's Caddyfile:\n%s", conf)
		}
		conf = "{\n\tadmin off\n\tauto_https off\n}\n\n" + sites.ReplaceAllString(conf, "http://$1."+e2eDomain+":"+port+" {")
		conf = substitute(t, conf, "https://login.example.com/logout", "http://login."+e2eDomain+":"+port+"/logout")
	}
	conf = substitute(t, conf, "127.0.0.1:8080", sessiondAddr, "127.0.0.1:3000", upstreamAddr)
	file := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"HOME=" + dir, "XDG_CONFIG_HOME=" + dir, "XDG_DATA_HOME=" + dir}
	startProcess(t, listen, filepath.Join(dir, "none"), env, bin, "run", "--config", file, "--adapter", "caddyfile")
}

// e2eClientIP is the loopback address the test client connects from, so
// the visitor's address differs from the proxy's (127.0.0.1) and a test
// can tell whether the proxy passed it on.
const e2eClientIP = "127.0.0.2"

// e2eBrowser is an HTTP client that resolves every *.example.test and
// *.localhost name to loopback (keeping the port), connects from
// e2eClientIP, and keeps cookies like a browser, but shows each redirect
// instead of following it.
func e2eBrowser(t testing.TB) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(e2eClientIP)}}
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil || !hostWithin(host, e2eDomain) && !hostWithin(host, "localhost") {
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

// proxySetup is a proxy as the README configures it.
type proxySetup struct {
	domain string // sessiond at login.<domain>, the app at app1.<domain>
	start  func(t testing.TB, listen, sessiondAddr, upstreamAddr string)
	// nginx: its config also has a default server with /admin-only/.
	nginx bool
	// passesCookie: the proxy hands the browser the cookie sessiond
	// re-issues on an extension.
	passesCookie bool
}

var (
	nginxSetup        = proxySetup{domain: e2eDomain, start: startNginx, nginx: true, passesCookie: true}
	caddySetup        = proxySetup{domain: e2eDomain, start: caddyFrom(caddyShorthand)}
	caddyWrittenSetup = proxySetup{domain: e2eDomain, start: caddyFrom(caddyWrittenOut), passesCookie: true}
	caddyLocalSetup   = proxySetup{domain: "sessiond.localhost", start: caddyFrom(caddyLocal)}
)

func caddyFrom(marker string) func(t testing.TB, listen, sessiondAddr, upstreamAddr string) {
	return func(t testing.TB, listen, s, u string) { startCaddy(t, marker, listen, s, u) }
}

// proxyStack runs sessiond (on SQLite, trusting the proxy) and the echo
// upstream behind p; it returns the test app, the upstream and the
// proxy's address.
func proxyStack(t *testing.T, p proxySetup, extraEnv ...string) (*testApp, *echoUpstream, string) {
	db := testdb.SQLite(t)
	proxy := "127.0.0.1:" + freePort(t)
	loginBase := "http://login." + p.domain + ":" + portOf(proxy)
	ln := freeListener(t)
	env := map[string]string{"BASE_URL": loginBase, "COOKIE_DOMAIN": p.domain, "LOG_LEVEL": "warn", "TRUSTED_PROXIES": "127.0.0.1"}
	for i := 0; i+1 < len(extraEnv); i += 2 {
		env[extraEnv[i]] = extraEnv[i+1]
	}
	a, _ := liveServerOn(t, ln, db, env)
	up := newEchoUpstream(t)
	p.start(t, proxy, ln.Addr().String(), up.Listener.Addr().String())
	return a, up, proxy
}

// proxyJourney is one user's whole story through a proxy configured as
// the README says.
func proxyJourney(t *testing.T, p proxySetup) {
	a, up, proxy := proxyStack(t, p)
	db := a.db
	loginBase := a.srv.cfg.BaseURL.String()
	user := testdb.CreateUser(t, db, "e2e@example.com", models.RoleUser)
	admin := testdb.CreateUser(t, db, "boss@example.com", models.RoleAdmin)
	br := e2eBrowser(t)
	original := "http://app1." + p.domain + ":" + portOf(proxy) + "/reports/q3?year=2026&view=full"

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

	// 2. Sign in on sessiond, through the proxy's sessiond host: back at
	// the original URL, and sessiond knows the visitor's address (the
	// proxy passed X-Forwarded-For on), not the proxy's.
	e2eSignIn(t, br, loginBase, user.Email, original)
	var sess models.Session
	if err := db.NewSelect().Model(&sess).Where("user_id = ?", user.ID).Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	if sess.IP != e2eClientIP {
		t.Errorf("the session records %q as the visitor's address, want %s: the proxy did not pass X-Forwarded-For on", sess.IP, e2eClientIP)
	}

	// 3. Through the proxy: the upstream sees who it is, and identity
	// headers the client made up, in either spelling, are gone.
	forged := http.Header{}
	for _, h := range []string{"Remote-User", "Remote_User", "Remote-Name", "Remote_Name", "Remote-Email", "Remote_Email", "Remote-Groups", "Remote_Groups"} {
		forged[h] = []string{"mallory-admin"}
	}
	resp, body := e2eGet(t, br, original, forged)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("signed in through the proxy: %d %s", resp.StatusCode, body)
	}
	var got echoed
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("upstream answer %q: %v", body, err)
	}
	want := map[string]string{"remote-user": user.Email, "remote-email": user.Email, "remote-name": user.Name, "remote-groups": models.RoleUser}
	seen := map[string][]string{}
	for k, vs := range got.Headers {
		name := strings.ReplaceAll(strings.ToLower(k), "_", "-")
		if _, ok := want[name]; ok {
			seen[name] = append(seen[name], vs...)
			if strings.Contains(k, "_") {
				t.Errorf("the client's %s reached the upstream: %q", k, vs)
			}
		}
	}
	for k, v := range want {
		if vs := seen[k]; len(vs) != 1 || vs[0] != v {
			t.Errorf("upstream %s = %q, want only %q", k, vs, v)
		}
	}
	if got.Path != "/reports/q3?year=2026&view=full" {
		t.Errorf("upstream path %q", got.Path)
	}
	if p.nginx {
		resp, _ = e2eGet(t, br, "http://extras."+e2eDomain+":"+portOf(proxy)+"/admin-only/x", nil)
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("role=admin location as a user: %d, want 403", resp.StatusCode)
		}
	}

	resp, _ = e2eGet(t, br, original, nil)
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
	if p.passesCookie && (refreshed == nil || refreshed.Domain != p.domain || refreshed.MaxAge <= 0) {
		t.Fatalf("the proxy did not pass the re-issued cookie on: %q", resp.Header.Values("Set-Cookie"))
	}
	if !p.passesCookie && refreshed != nil {
		t.Logf("this proxy now passes the re-issued cookie on: the README's caveat can go")
	}

	// 4. An admin revokes that session in sessiond: the next proxied
	// request is refused.
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
	if strings.Contains(a.logs.String(), "TRUSTED_PROXIES does not name") {
		t.Errorf("sessiond warned about an untrusted proxy behind a trusted one:\n%s", a.logs.String())
	}
}

// e2eSignIn signs in through the sign-in page sessiond sent the browser
// to, and checks it goes back to next.
func e2eSignIn(t testing.TB, br *http.Client, loginBase, email, next string) {
	t.Helper()
	_, page := e2eGet(t, br, loginBase+"/login?next="+url.QueryEscape(next), nil)
	csrf := csrfMeta.FindStringSubmatch(page)
	if csrf == nil || !strings.Contains(page, `name="next"`) {
		t.Fatalf("sign-in page without CSRF token or next: %s", page)
	}
	form := url.Values{"email": {email}, "password": {"password123"}, "_csrf": {csrf[1]}, "next": {next}}
	resp, err := br.PostForm(loginBase+"/login", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != next {
		t.Fatalf("after sign-in: %d %q, want back at %q", resp.StatusCode, resp.Header.Get("Location"), next)
	}
}

func TestProxy_Nginx_READMEBlocks_SignInRoundTripHeadersAndRevoke(t *testing.T) {
	proxyJourney(t, nginxSetup)
}

func TestProxy_Caddy_READMECaddyfile_SignInRoundTripHeadersAndRevoke(t *testing.T) {
	proxyJourney(t, caddySetup)
}

func TestProxy_CaddyWrittenOut_READMECaddyfile_AlsoPassesTheRefreshedCookie(t *testing.T) {
	proxyJourney(t, caddyWrittenSetup)
}

func TestProxy_CaddyLocal_READMECaddyfile_RunsOnLoopbackAlone(t *testing.T) {
	proxyJourney(t, caddyLocalSetup)
}
