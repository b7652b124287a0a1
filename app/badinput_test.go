package app

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"sessiond/models"
	"sessiond/models/testdb"
)

// badValues are SECURITY.md 21's hostile parameter values.
var badValues = []string{
	"-1", "0", "abc", "1.5", "1e3", "99999999999999999999", strings.Repeat("9", 10_000),
	"%", "_", `\`, `'"`, "<script>alert(1)</script>", "\x00", "\xff\xfe",
}

// badParams are the query and form names any route of ours reads.
var badParams = []string{
	"page", "limit", "userId", "id", "status", "q", "cursor", "before", "after", "kind", "from", "to",
	"sessionToken", "action", "role", "email", "name", "password", "next",
}

// skipBadInput lists routes whose success is itself a state change no
// matter the input, with the reason.
var skipBadInput = map[string]string{
	"POST /logout":                 "signing out is what it does; its input is only the CSRF token",
	"POST /admin/cleanup/run":      "running a cleanup (and recording the run) is what it does; it reads no input",
	"DELETE /api/sessions/current": "signing this session out is what it does; it reads no input",
}

// TestBadInput_EveryRoute_NeverFiveHundred_NeverChangesState_SaysWhatWasWrong
// sends SECURITY.md 21–22's bad values in every parameter, to every
// registered route and method, as an admin with a valid CSRF token, in
// JSON and in HTML. No answer may be a 5xx, no user or session may change,
// and every 4xx carries a message.
func TestBadInput_EveryRoute_NeverFiveHundred_NeverChangesState_SaysWhatWasWrong(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, nil)
		admin := testdb.CreateUser(t, db, "bad-admin@example.com", models.RoleAdmin)
		uc, _ := a.signIn("bad-user@example.com", models.RoleUser)
		c := a.client()
		c.login(admin.Email, "password123")
		before := snapshot(t, db)

		seen := map[string]bool{}
		requests := 0
		for _, r := range a.srv.Handler().GetRoutes(true) {
			key := r.Method + " " + r.Path
			if seen[key] || r.Method == http.MethodHead || r.Method == "USE" || strings.HasPrefix(r.Path, "/static") {
				continue
			}
			seen[key] = true
			if skipBadInput[key] != "" {
				continue
			}
			paths := []string{r.Path}
			if strings.Contains(r.Path, ":") {
				paths = nil
				for _, v := range []string{"abc", "-1", "0", "1.5", "99999999999999999999", strings.Repeat("7", 5000)} {
					paths = append(paths, replaceParams(r.Path, url.PathEscape(v)))
				}
			}
			for _, p := range paths {
				for _, name := range badParams {
					for _, v := range badValues {
						for _, asJSON := range []bool{true, false} {
							requests++
							status, msg := sendBad(t, c, r.Method, p, name, v, asJSON)
							if status >= 500 {
								t.Fatalf("%s %s %s=%.40q (json=%v): %d %s", r.Method, p, name, v, asJSON, status, msg)
							}
							if status >= 400 && status != http.StatusMethodNotAllowed && strings.TrimSpace(msg) == "" {
								t.Fatalf("%s %s %s=%.40q: %d without a message", r.Method, p, name, v, status)
							}
							if status == http.StatusBadRequest && asJSON && r.Method == http.MethodGet && !strings.Contains(strings.ToLower(msg), strings.ToLower(name)) &&
								!strings.Contains(r.Path, ":") && v != "\x00" && v != "\xff\xfe" {
								// A 400 about a query parameter names it, so a script's author knows what to fix.
								t.Errorf("%s %s %s=%.40q: 400 %q does not name %q", r.Method, p, name, v, msg, name)
							}
						}
					}
				}
			}
		}
		if after := snapshot(t, db); after != before {
			t.Fatalf("bad input changed state:\nbefore %s\nafter  %s", before, after)
		}
		if !c.signedIn() || !uc.signedIn() {
			t.Fatal("bad input ended a session")
		}
		t.Logf("%d routes, %d requests, no 5xx, nothing changed", len(seen), requests)
	})
}

// replaceParams puts v in every :param of a route path.
func replaceParams(path, v string) string {
	parts := strings.Split(path, "/")
	for i, p := range parts {
		if strings.HasPrefix(p, ":") {
			parts[i] = v
		}
	}
	return strings.Join(parts, "/")
}

// sendBad sends name=v in the query (GET) or the form body (POST/DELETE)
// and returns the status and the error message (JSON) or body (HTML).
func sendBad(t *testing.T, c *client, method, path, name, v string, asJSON bool) (int, string) {
	t.Helper()
	q := url.Values{name: {v}}
	h := http.Header{"X-Csrf-Token": {c.csrf}}
	if asJSON {
		h.Set("Accept", "application/json")
	} else {
		h.Set("Accept", "text/html")
		h.Set("HX-Request", "true")
	}
	var resp *http.Response
	if method == http.MethodGet {
		resp = c.request(method, path+"?"+q.Encode()+"&"+url.Values{name: {"1"}}.Encode(), nil, h) // duplicates too
	} else {
		h.Set("Content-Type", "application/x-www-form-urlencoded")
		resp = c.request(method, path, strings.NewReader(q.Encode()), h)
	}
	body := readBody(t, resp)
	if asJSON && resp.StatusCode >= 400 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		var e struct {
			Error string `json:"error"`
		}
		if err := json.Unmarshal([]byte(body), &e); err != nil {
			t.Fatalf("%s %s: error body is not JSON: %.200q", method, path, body)
		}
		return resp.StatusCode, e.Error
	}
	return resp.StatusCode, body
}

// TestBadInput_Login_OversizedPasswordOrBody_RefusedFast_NoSession covers
// SECURITY.md 23: a 1 MB password or a body over the limit → 400/413,
// answered without hashing, and no session.
func TestBadInput_Login_OversizedPasswordOrBody_RefusedFast_NoSession(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		_, base := liveServer(t, db, nil)
		u := testdb.CreateUser(t, db, "big@example.com", models.RoleUser)
		jar, _ := cookiejar.New(nil)
		hc := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := hc.Get(base + "/login")
		if err != nil {
			t.Fatal(err)
		}
		m := csrfMeta.FindStringSubmatch(readBody(t, resp))
		if m == nil {
			t.Fatal("no CSRF token on the login page")
		}
		// A 1 MB body is refused from its Content-Length, before it is read:
		// the server answers 413 and closes, so send only the headers.
		conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n", 1<<20)
		status, err := bufio.NewReader(conn).ReadString('\n')
		conn.Close()
		if err != nil || !strings.Contains(status, " 413 ") {
			t.Fatalf("1 MB body: got %q, %v; want 413", status, err)
		}
		for _, size := range []int{models.MaxPasswordBytes + 1, 60_000} {
			form := url.Values{"email": {u.Email}, "password": {strings.Repeat("p", size)}, "_csrf": {m[1]}}
			resp, err := hc.PostForm(base+"/login", form)
			if err != nil {
				t.Fatalf("%d-byte password: %v", size, err)
			}
			body := strings.ToLower(readBody(t, resp))
			if resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Fatalf("%d-byte password: status %d, want 400 or 413", size, resp.StatusCode)
			}
			if !strings.Contains(body, "password") && !strings.Contains(body, "too large") {
				t.Fatalf("%d-byte password: message does not say what was wrong: %.200s", size, body)
			}
		}
		if n := countRows(t, db, "sessions", ""); n != 0 {
			t.Fatalf("%d sessions after oversized sign-ins", n)
		}
	})
}

// TestBadInput_LoginNext_RedirectStaysOnThisSite covers SECURITY.md 23's
// next= values: after a real sign-in the redirect never leaves the site.
func TestBadInput_LoginNext_RedirectStaysOnThisSite(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, nil)
		u := testdb.CreateUser(t, db, "next@example.com", models.RoleUser)
		cases := map[string]string{
			"https://evil.example":           "/",
			"//evil.example":                 "/",
			"/\\evil.example":                "/",
			"javascript:alert(1)":            "/",
			"https://evil.example/@" + "":    "/",
			"http://127.0.0.1.evil.example/": "/",
			"/%2F%2Fevil.example":            "/",
			"\t//evil.example":               "/",
			"/account/sessions?x=1":          "/account/sessions?x=1",
			"/admin/sessions":                "/admin/sessions",
		}
		for next, want := range cases {
			c := a.client()
			_, body := c.page("/login?next=" + url.QueryEscape(next))
			if strings.Contains(body, "://127.0.0.1.evil") || strings.Contains(body, "//evil.example") || strings.Contains(body, "javascript:") {
				t.Fatalf("login page echoes a foreign next %q", next)
			}
			resp := c.form("/login", url.Values{"email": {u.Email}, "password": {"password123"}, "next": {next}})
			resp.Body.Close()
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("next=%q: status %d", next, resp.StatusCode)
			}
			got := resp.Header.Get("Location")
			if want != "/" && got != want {
				t.Fatalf("next=%q: redirected to %q, want %q", next, got, want)
			}
			if !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") || strings.ContainsAny(got, "\\\t") {
				t.Fatalf("next=%q: redirected off the site to %q", next, got)
			}
			a.clock.Advance(time.Second)
		}
	})
}

// TestBadInput_NamesAndUserAgentsWithHTML_AreEscapedEverywhere covers
// SECURITY.md 24 on every page an admin or the user can open.
func TestBadInput_NamesAndUserAgentsWithHTML_AreEscapedEverywhere(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, nil)
		const evil = `<img src=x onerror=alert(1)>`
		u, err := models.CreateUser(t.Context(), db, models.NewUser{Email: "xss@example.com", Name: evil, Role: models.RoleAdmin, Password: "password123"}, a.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		c := a.client()
		c.page("/login")
		h := http.Header{"User-Agent": {evil}, "Content-Type": {"application/x-www-form-urlencoded"}}
		resp := c.request("POST", "/login", strings.NewReader(url.Values{"email": {u.Email}, "password": {"password123"}, "_csrf": {c.csrf}}.Encode()), h)
		resp.Body.Close()
		pages := 0
		for _, r := range a.srv.Handler().GetRoutes(true) {
			if r.Method != http.MethodGet || strings.Contains(r.Path, ":") || strings.HasPrefix(r.Path, "/static") ||
				strings.HasSuffix(r.Path, ".csv") || r.Path == "/metrics" || strings.HasPrefix(r.Path, "/auth/") {
				continue
			}
			for _, hx := range []bool{false, true} {
				h := http.Header{"Accept": {"text/html"}}
				if hx {
					h.Set("HX-Request", "true")
				}
				resp := c.request("GET", r.Path, nil, h)
				body := readBody(t, resp)
				pages++
				if strings.Contains(body, evil) {
					t.Fatalf("GET %s (htmx=%v) shows the name or user agent unescaped", r.Path, hx)
				}
			}
		}
		t.Logf("%d page and fragment views checked", pages)
	})
}
