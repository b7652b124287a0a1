package app

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"sessiond/models"
	"sessiond/models/testdb"
)

// FuzzEveryRouteField: any value in any form, query or JSON field of any
// route — signed in as an admin, with a valid CSRF token, the other fields
// plausible — is answered below 500. The routes are the app's own table
// and the field names are every name the handlers read, found in this
// package's source, so a route or field added later is fuzzed too.
func FuzzEveryRouteField(f *testing.F) {
	db := testdb.SQLite(f)
	a := newTestApp(f, db, map[string]string{"LOG_LEVEL": "error"})
	admin := testdb.CreateUser(f, db, "fuzz-admin@example.com", models.RoleAdmin)
	victim := testdb.CreateUser(f, db, "fuzz-victim@example.com", models.RoleUser)
	routes := fuzzRoutes(a)
	fields := handlerFieldNames(f)
	defaults := map[string]string{
		"email": "fuzz-new@example.com", "password": "correct-horse-battery", "name": "Fuzz", "role": "user",
		"next": "/", "code": "123456", "current_password": "not-the-password", "new_password": "new-password-123",
		"confirm": "new-password-123", "userId": strconv.FormatInt(victim.ID, 10), "action": "cleanup",
		"q": "fuzz", "page": "1", "limit": "10", "status": "all",
	}
	var token, csrf string
	signIn := func() { // a session row made directly: no hashing per iteration
		tok, _, err := signInAs(a.srv.sessions, context.Background(), admin.ID, models.Client{IP: "127.0.0.1"})
		if err != nil {
			f.Fatal(err)
		}
		token, csrf = tok, a.srv.mac("csrf-session", models.HashToken(tok))
	}
	signIn()
	// Seeds: every field of every route with NUL and with invalid UTF-8
	// (the plain test run checks them all; under -fuzz, where each seed
	// also measures coverage, a sample is enough for the fuzzer to start
	// from), and a few other awkward values on each route.
	fuzzing := flag.Lookup("test.fuzz").Value.String() != ""
	for i := range routes {
		for j := range fields {
			if !fuzzing || (i+j)%8 == 0 {
				f.Add(uint8(i), uint8(j), "a\x00b", j%2 == 0)
				f.Add(uint8(i), uint8(j), "\xff\xfe", j%2 == 1)
			}
		}
		for _, v := range []string{"", "%00", strings.Repeat("x", 3000), "' OR 1=1 --", "-1", "99999999999999999999"} {
			f.Add(uint8(i), uint8(i*7), v, i%2 == 0)
		}
	}
	if len(routes) > 255 || len(fields) > 255 {
		f.Fatalf("%d routes, %d fields: a uint8 no longer reaches them all", len(routes), len(fields))
	}
	f.Fuzz(func(t *testing.T, route, field uint8, value string, asJSON bool) {
		r := routes[int(route)%len(routes)]
		name := fields[int(field)%len(fields)]
		vals := url.Values{}
		for _, k := range fields {
			if v, ok := defaults[k]; ok {
				vals.Set(k, v)
			}
		}
		vals.Set(name, value)
		path := strings.ReplaceAll(r.path, ":id", strconv.FormatInt(victim.ID, 10))
		req, _ := http.NewRequest(r.method, testBase+path, nil)
		req.Header.Set("Accept", "application/json")
		req.Header.Set("X-CSRF-Token", csrf)
		req.AddCookie(&http.Cookie{Name: a.srv.cfg.CookieName(), Value: token})
		switch {
		case r.method == http.MethodGet:
			req.URL.RawQuery = vals.Encode()
		case asJSON:
			obj := map[string]string{}
			for k := range vals {
				obj[k] = vals.Get(k)
			}
			b, _ := json.Marshal(obj)
			req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
			req.Header.Set("Content-Type", "application/json")
		default:
			body := vals.Encode()
			req.Body, req.ContentLength = io.NopCloser(strings.NewReader(body)), int64(len(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := a.srv.Handler().Test(req, -1)
		if err != nil {
			return // refused by fasthttp before any handler
		}
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Fatalf("%s %s with %s=%q (json %v): %d", r.method, path, name, value, asJSON, resp.StatusCode)
		}
		if !fuzzSignedIn(a, token) {
			signIn() // the input signed the admin out (logout, password change): a new session
		}
	})
}

type fuzzRoute struct{ method, path string }

// fuzzRoutes lists every GET, POST and DELETE route the app serves.
func fuzzRoutes(a *testApp) []fuzzRoute {
	seen := map[fuzzRoute]bool{}
	var out []fuzzRoute
	for _, r := range a.srv.Handler().GetRoutes(true) {
		k := fuzzRoute{r.Method, r.Path}
		if (r.Method == http.MethodGet || r.Method == http.MethodPost || r.Method == http.MethodDelete) && !seen[k] &&
			!strings.HasPrefix(r.Path, "/static") {
			seen[k] = true
			out = append(out, k)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path+out[i].method < out[j].path+out[j].method })
	return out
}

var fieldRead = regexp.MustCompile(`(?:formValue\(c, |Query\(|get\()"([A-Za-z_]+)"\)|raw\["([A-Za-z_]+)"\]`)

// handlerFieldNames is every field name the handlers read from a form,
// query or JSON body, from this package's source.
func handlerFieldNames(t testing.TB) []string {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	set := map[string]bool{"unknown_field": true}
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range fieldRead.FindAllStringSubmatch(string(src), -1) {
			set[m[1]+m[2]] = true
		}
	}
	delete(set, "_csrf") // sent as the header; a fuzzed one only gets 403
	var names []string
	for k := range set {
		names = append(names, k)
	}
	sort.Strings(names)
	if len(names) < 10 {
		t.Fatalf("found only %v: has the way handlers read fields changed?", names)
	}
	return names
}

func fuzzSignedIn(a *testApp, token string) bool {
	req, _ := http.NewRequest("GET", testBase+"/api/me", nil)
	req.Header.Set("Accept", "application/json")
	req.AddCookie(&http.Cookie{Name: a.srv.cfg.CookieName(), Value: token})
	resp, err := a.srv.Handler().Test(req, -1)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
