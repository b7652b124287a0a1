package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"golang.org/x/oauth2"

	"sessiond/models"
)

// githubProvider is sign-in with GitHub: OAuth 2 (GitHub has no OpenID
// Connect for people), so who signed in is asked of the REST API with the
// access token: /user for the id and name, /user/emails for the primary
// verified address. GitHub Enterprise Server works through GITHUB_URL.
type githubProvider struct {
	cfg      GitHubConfig
	redirect string
	client   *http.Client
}

func (g *githubProvider) key() string       { return githubKey }
func (g *githubProvider) label() string     { return "GitHub" }
func (g *githubProvider) origins() []string { return []string{originOf(g.cfg.WebURL)} }

func (g *githubProvider) oauth2() *oauth2.Config {
	return &oauth2.Config{
		ClientID: g.cfg.ClientID, ClientSecret: g.cfg.ClientSecret, RedirectURL: g.redirect,
		Endpoint: oauth2.Endpoint{AuthURL: g.cfg.WebURL + "/login/oauth/authorize", TokenURL: g.cfg.WebURL + "/login/oauth/access_token",
			AuthStyle: oauth2.AuthStyleInParams},
		Scopes: []string{"read:user", "user:email"},
	}
}

// authCodeURL: GitHub has no nonce (there is no ID token) and cannot be
// made to ask for the password again; state and PKCE bind the round trip.
func (g *githubProvider) authCodeURL(ctx context.Context, r authRequest) (string, error) {
	return g.oauth2().AuthCodeURL(r.state, oauth2.S256ChallengeOption(r.verifier)), nil
}

func (g *githubProvider) identify(ctx context.Context, code string, r authRequest) (identity, error) {
	ctx = context.WithValue(ctx, oauth2.HTTPClient, g.client)
	tok, err := g.oauth2().Exchange(ctx, code, oauth2.VerifierOption(r.verifier))
	if err != nil {
		return identity{}, exchangeError("GitHub", err)
	}
	var user struct {
		ID    int64  `json:"id"`
		Login string `json:"login"`
		Name  string `json:"name"`
	}
	if err := g.get(ctx, tok, "/user", &user); err != nil {
		return identity{}, err
	}
	if user.ID <= 0 {
		return identity{}, refused("GitHub", "/user has no id")
	}
	var emails []struct {
		Email    string `json:"email"`
		Primary  bool   `json:"primary"`
		Verified bool   `json:"verified"`
	}
	if err := g.get(ctx, tok, "/user/emails", &emails); err != nil {
		return identity{}, err
	}
	id := identity{subject: strconv.FormatInt(user.ID, 10), name: user.Name}
	if id.name == "" {
		id.name = user.Login
	}
	for _, e := range emails {
		if e.Primary && e.Verified {
			id.email, id.emailVerified = models.NormalizeEmail(e.Email), true
		}
	}
	return id, nil
}

// get reads one JSON answer of the REST API.
func (g *githubProvider) get(ctx context.Context, tok *oauth2.Token, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.cfg.APIURL+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	tok.SetAuthHeader(req)
	resp, err := g.client.Do(req)
	if err != nil {
		return &providerDown{label: "GitHub", err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	switch {
	case err != nil || resp.StatusCode >= 500:
		return &providerDown{label: "GitHub", err: fmt.Errorf("GET %s: %s", path, resp.Status)}
	case resp.StatusCode != http.StatusOK:
		return refused("GitHub", "GET %s: %s", path, resp.Status)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return refused("GitHub", "GET %s: %v", path, err)
	}
	return nil
}
