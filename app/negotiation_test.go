package app

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"sessiond/models"
	"sessiond/models/testdb"
)

// TestNegotiation_ScriptsGetJSONBrowsersGetPages: curl's */*, no Accept
// at all and a browser's Accept, signed in and not, on an /api route, a
// page, an admin route, /metrics and /auth/verify.
func TestNegotiation_ScriptsGetJSONBrowsersGetPages(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, map[string]string{"METRICS_TOKEN": "m-secret-token-0123456789"})
		testdb.CreateUser(t, db, "neg-admin@example.com", models.RoleAdmin)
		testdb.CreateUser(t, db, "neg-user@example.com", models.RoleUser)
		user := a.client()
		user.login("neg-user@example.com", "password123")

		const (
			star    = "*/*"
			none    = ""
			browser = browserAccept
		)
		type want struct {
			status   int
			json     bool   // body is {"error": ...} or a JSON object
			location string // prefix of Location for redirects
		}
		cases := []struct {
			name     string
			signedIn bool
			path     string
			accept   string
			want     want
		}{
			{"api me anonymous curl", false, "/api/me", star, want{401, true, ""}},
			{"api me anonymous no accept", false, "/api/me", none, want{401, true, ""}},
			{"api me anonymous browser", false, "/api/me", browser, want{401, true, ""}},
			{"api me signed in curl", true, "/api/me", star, want{200, true, ""}},
			{"api me signed in browser", true, "/api/me", browser, want{200, true, ""}},
			{"page anonymous curl", false, "/account/sessions", star, want{401, true, ""}},
			{"page anonymous no accept", false, "/account/sessions", none, want{401, true, ""}},
			{"page anonymous browser", false, "/account/sessions", browser, want{303, false, "/login?next="}},
			{"page signed in browser", true, "/account/sessions", browser, want{200, false, ""}},
			{"admin as user curl", true, "/admin/sessions", star, want{403, true, ""}},
			{"admin as user no accept", true, "/admin/sessions", none, want{403, true, ""}},
			{"admin as user browser", true, "/admin/sessions", browser, want{403, false, ""}},
			{"admin anonymous curl", false, "/admin/users", star, want{401, true, ""}},
			{"admin anonymous browser", false, "/admin/users", browser, want{303, false, "/login?next="}},
			{"unknown route curl", false, "/no-such-page", star, want{404, true, ""}},
			{"unknown route browser", false, "/no-such-page", browser, want{404, false, ""}},
			{"verify anonymous curl", false, "/auth/verify", star, want{401, true, ""}},
			{"verify anonymous no accept", false, "/auth/verify", none, want{401, true, ""}},
		}
		for _, tc := range cases {
			h := http.Header{"Accept": {tc.accept}}
			if tc.accept == "" {
				h = http.Header{"Accept": nil}
			}
			var resp *http.Response
			if tc.signedIn {
				resp = user.request("GET", tc.path, nil, h)
			} else {
				req, _ := http.NewRequest("GET", testBase+tc.path, nil)
				if tc.accept != "" {
					req.Header.Set("Accept", tc.accept)
				}
				resp = a.do(req)
			}
			body := readBody(t, resp)
			if resp.StatusCode != tc.want.status {
				t.Errorf("%s: status %d, want %d: %.200s", tc.name, resp.StatusCode, tc.want.status, body)
				continue
			}
			isJSON := strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json")
			if isJSON != tc.want.json {
				t.Errorf("%s: Content-Type %q, want JSON %v", tc.name, resp.Header.Get("Content-Type"), tc.want.json)
			}
			if isJSON && resp.StatusCode >= 400 {
				var e map[string]any
				if err := json.Unmarshal([]byte(body), &e); err != nil || len(e) != 1 || e["error"] == "" || e["error"] == nil {
					t.Errorf("%s: error body %q is not {\"error\": ...}", tc.name, body)
				}
			}
			if tc.want.location != "" && !strings.HasPrefix(resp.Header.Get("Location"), tc.want.location) {
				t.Errorf("%s: Location %q, want %s…", tc.name, resp.Header.Get("Location"), tc.want.location)
			}
			if !strings.Contains(resp.Header.Get("Vary"), "Accept") {
				t.Errorf("%s: Vary %q lacks Accept", tc.name, resp.Header.Get("Vary"))
			}
		}

		// /metrics refuses a wrong token with the same shape when JSON is asked for.
		req, _ := http.NewRequest("GET", testBase+"/metrics", nil)
		req.Header.Set("Accept", "application/json")
		req.Header.Set("Authorization", "Bearer wrong")
		resp := a.do(req)
		body := readBody(t, resp)
		if resp.StatusCode != 401 || !strings.Contains(body, `"error"`) {
			t.Errorf("/metrics with a wrong token: %d %s", resp.StatusCode, body)
		}
	})
}

// TestNegotiation_FormRefusalsAreJSONForScripts: the refusals a handler
// renders itself (a wrong password on the sign-in form, a bad address on
// "forgot password") go to a script that did not ask for HTML as {error},
// and to a browser as the form again with its message.
func TestNegotiation_FormRefusalsAreJSONForScripts(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, nil)
		testdb.CreateUser(t, db, "neg-form@example.com", models.RoleUser)
		for _, tc := range []struct {
			path   string
			form   url.Values
			status int
		}{
			{"/login", url.Values{"email": {"neg-form@example.com"}, "password": {"wrong-password"}}, http.StatusUnauthorized},
			{"/password/forgot", url.Values{"email": {"not an address"}}, http.StatusUnprocessableEntity},
		} {
			for _, accept := range []string{"*/*", "", browserAccept} {
				c := a.client()
				c.page(tc.path)
				form := url.Values{"_csrf": {c.csrf}}
				for k, v := range tc.form {
					form[k] = v
				}
				h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Accept": {accept}}
				if accept == "" {
					h["Accept"] = nil
				}
				resp := c.request("POST", tc.path, strings.NewReader(form.Encode()), h)
				body := readBody(t, resp)
				isJSON := strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json")
				if resp.StatusCode != tc.status || isJSON != (accept != browserAccept) {
					t.Errorf("POST %s with Accept %q: %d JSON %v, want %d JSON %v: %.120s", tc.path, accept, resp.StatusCode, isJSON, tc.status, accept != browserAccept, body)
				}
				if isJSON && !strings.Contains(body, `"error"`) {
					t.Errorf("POST %s with Accept %q: %s is not {error}", tc.path, accept, body)
				}
			}
		}
	})
}
