package app

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"golang.org/x/oauth2"

	"sessiond/models"
	"sessiond/models/testdb"
)

// fakeGitHub answers GitHub's OAuth and REST endpoints as GitHub documents
// them (GitHub itself cannot be reached from the tests): it signs in one
// person, remembers each code's PKCE challenge and checks the verifier.
type fakeGitHub struct {
	*httptest.Server
	mu         sync.Mutex
	challenges map[string]string // code → S256 challenge
	emails     []map[string]any
	userID     int64
}

func newFakeGitHub(t *testing.T) *fakeGitHub {
	g := &fakeGitHub{challenges: map[string]string{}, userID: 4242,
		emails: []map[string]any{
			{"email": "old@example.com", "primary": false, "verified": true},
			{"email": "Octo@Example.com", "primary": true, "verified": true},
		}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login/oauth/authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("client_id") != "gh-id" || q.Get("code_challenge_method") != "S256" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		g.mu.Lock()
		code := "code-" + q.Get("state")[:8]
		g.challenges[code] = q.Get("code_challenge")
		g.mu.Unlock()
		http.Redirect(w, r, q.Get("redirect_uri")+"?code="+code+"&state="+url.QueryEscape(q.Get("state")), http.StatusFound)
	})
	mux.HandleFunc("POST /login/oauth/access_token", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		g.mu.Lock()
		want, ok := g.challenges[r.Form.Get("code")]
		delete(g.challenges, r.Form.Get("code"))
		g.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if !ok || r.Form.Get("client_secret") != "gh-secret" || oauth2.S256ChallengeFromVerifier(r.Form.Get("code_verifier")) != want {
			json.NewEncoder(w).Encode(map[string]string{"error": "bad_verification_code"}) // GitHub answers 200
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"access_token": "gho_token", "token_type": "bearer", "scope": "read:user,user:email"})
	})
	authed := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer gho_token" {
				http.Error(w, `{"message":"Bad credentials"}`, http.StatusUnauthorized)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			h(w, r)
		}
	}
	mux.HandleFunc("GET /api/v3/user", authed(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"id": g.userID, "login": "octocat", "name": "The Octocat"})
	}))
	mux.HandleFunc("GET /api/v3/user/emails", authed(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(g.emails)
	}))
	g.Server = httptest.NewServer(mux)
	t.Cleanup(g.Close)
	return g
}

// githubSignIn presses "Sign in with GitHub" and follows GitHub's answer
// back to sessiond.
func (c *client) githubSignIn(g *fakeGitHub) *http.Response {
	c.app.t.Helper()
	resp := c.startProvider("github", "")
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, g.URL+"/login/oauth/authorize") {
		c.app.t.Fatalf("start: %d to %q", resp.StatusCode, loc)
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	back, err := noFollow.Get(loc)
	if err != nil {
		c.app.t.Fatal(err)
	}
	back.Body.Close()
	return c.request("GET", strings.TrimPrefix(back.Header.Get("Location"), testBase), nil, nil)
}

// TestGitHubSignIn_PrimaryVerifiedEmail_Enterprise: through GitHub
// Enterprise's endpoints (GITHUB_URL), with PKCE, the primary verified
// email signs up a user linked by GitHub's numeric id; without a verified
// primary email an unknown person is refused.
func TestGitHubSignIn_PrimaryVerifiedEmail_Enterprise(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		g := newFakeGitHub(t)
		a := newTestApp(t, db, map[string]string{"BASE_URL": testBase, "SIGNUP": "providers",
			"GITHUB_CLIENT_ID": "gh-id", "GITHUB_CLIENT_SECRET": "gh-secret", "GITHUB_URL": g.URL})
		c := a.client()
		_, page := c.page("/login")
		if !strings.Contains(page, "Sign in with GitHub") {
			t.Fatal("no GitHub button on the sign-in page")
		}
		if resp := c.githubSignIn(g); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("callback: %d %s", resp.StatusCode, readBody(t, resp))
		}
		if !c.signedIn() {
			t.Fatal("not signed in")
		}
		acct, err := models.FindAccount(t.Context(), db, "github", "4242")
		if err != nil {
			t.Fatal(err)
		}
		u, err := models.FindUser(t.Context(), db, acct.UserID)
		if err != nil || u.Email != "octo@example.com" || u.Name != "The Octocat" {
			t.Fatalf("user %+v %v", u, err)
		}
		if amr := lastAMR(t, db, u.ID); amr != models.MethodFederated {
			t.Fatalf("amr %q", amr)
		}

		g.userID, g.emails = 777, []map[string]any{{"email": "new@example.com", "primary": true, "verified": false}}
		other := a.client()
		resp := other.githubSignIn(g)
		if body := readBody(t, resp); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "did not tell sessiond your email") {
			t.Fatalf("unverified primary email: %d %s", resp.StatusCode, body)
		}
	})
}
