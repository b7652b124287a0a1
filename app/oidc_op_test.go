package app

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"
)

// testOP is a real OpenID provider for the tests: zitadel/oidc's OP with
// its example storage and login page, served over HTTP on loopback. Only
// who its users are (and their groups) is the test's.
type testOP struct {
	t        testing.TB
	issuer   string
	clientID string
	secret   string
	storage  *opStorage
	sids     atomic.Int64
}

// opUser is a person with an account at the test provider.
type opUser struct {
	id, username, email string
	verified            bool
	name                string
	groups              []string
}

const opPassword = "provider-password"

// quietOPLog: the example OP logs every request, and makes its logger the
// process's default; tests want neither line.
var quietOPLog = slog.New(slog.DiscardHandler)

// opUsers is storage.UserStore over the test's people.
type opUsers map[string]*storage.User

func (u opUsers) GetUserByID(id string) *storage.User { return u[id] }
func (u opUsers) GetUserByUsername(name string) *storage.User {
	for _, x := range u {
		if x.Username == name {
			return x
		}
	}
	return nil
}
func (u opUsers) ExampleClientID() string { return "service" }

// opStorage is the example storage plus a groups claim and a session id
// (sid) in the ID token, which the example leaves out.
type opStorage struct {
	*storage.Storage
	op     *testOP
	groups map[string][]string
	// idTokenLifetime, when set, replaces the example client's hour.
	idTokenLifetime time.Duration
}

func (s *opStorage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := s.Storage.GetClientByClientID(ctx, id)
	if err != nil || s.idTokenLifetime == 0 {
		return c, err
	}
	return shortLivedClient{Client: c, lifetime: s.idTokenLifetime}, nil
}

type shortLivedClient struct {
	op.Client
	lifetime time.Duration
}

func (c shortLivedClient) IDTokenLifetime() time.Duration { return c.lifetime }

func (s *opStorage) SetUserinfoFromRequest(ctx context.Context, ui *zoidc.UserInfo, token op.IDTokenRequest, scopes []string) error {
	if err := s.Storage.SetUserinfoFromRequest(ctx, ui, token, scopes); err != nil {
		return err
	}
	ui.AppendClaims("sid", fmt.Sprintf("op-session-%d", s.op.sids.Add(1)))
	if g := s.groups[token.GetSubject()]; g != nil {
		ui.AppendClaims("groups", g)
	}
	return nil
}

// newTestOP starts a provider whose one client is sessiond at redirectURI.
func newTestOP(t testing.TB, redirectURI string, people ...opUser) *testOP {
	return newTestOPAt(t, "127.0.0.1", redirectURI, people...)
}

// newTestOPAt is newTestOP under another name for loopback (a browser
// test puts the provider on another site than sessiond).
func newTestOPAt(t testing.TB, host, redirectURI string, people ...opUser) *testOP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	o := &testOP{t: t, issuer: "http://" + net.JoinHostPort(host, port), clientID: "sessiond-client", secret: "sessiond-client-secret"}
	users := opUsers{}
	groups := map[string][]string{}
	for _, p := range people {
		first, last, _ := strings.Cut(p.name, " ")
		users[p.id] = &storage.User{ID: p.id, Username: p.username, Password: opPassword, FirstName: first, LastName: last,
			Email: p.email, EmailVerified: p.verified, PreferredLanguage: language.English}
		groups[p.id] = p.groups
	}
	clients := map[string]*storage.Client{o.clientID: storage.WebClient(o.clientID, o.secret, redirectURI)}
	o.storage = &opStorage{Storage: storage.NewStorageWithClients(users, clients), op: o, groups: groups}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: exampleop.SetupServer(o.issuer, o.storage, quietOPLog, false)}}
	srv.Start()
	t.Cleanup(srv.Close)
	return o
}

// env is sessiond's configuration for this provider under the name key.
func (o *testOP) env(key string, extra map[string]string) map[string]string {
	k := strings.ToUpper(key)
	env := map[string]string{
		"BASE_URL": testBase, "OIDC_PROVIDERS": key,
		"OIDC_" + k + "_ISSUER": o.issuer, "OIDC_" + k + "_CLIENT_ID": o.clientID, "OIDC_" + k + "_CLIENT_SECRET": o.secret,
		"OIDC_" + k + "_NAME": "Test OP",
	}
	for n, v := range extra {
		env[n] = v
	}
	return env
}

// browser is a person's browser at the provider: its own cookies, and
// redirects are followed by hand so that the test sees where it is sent.
func (o *testOP) browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// authorize takes the browser from the authorization URL sessiond sent it
// to, through the provider's sign-in form, to the URL the provider sends
// it back to (sessiond's callback, not followed).
func (o *testOP) authorize(authURL, username string) *url.URL {
	o.t.Helper()
	b := o.browser()
	next, err := url.Parse(authURL)
	if err != nil {
		o.t.Fatal(err)
	}
	for hops := 0; hops < 10; hops++ {
		if !strings.HasPrefix(next.String(), o.issuer) {
			return next
		}
		var resp *http.Response
		if next.Path == "/login/username" {
			id := next.Query().Get("authRequestID")
			resp, err = b.PostForm(next.String(), url.Values{"username": {username}, "password": {opPassword}, "id": {id}})
		} else {
			resp, err = b.Get(next.String())
		}
		if err != nil {
			o.t.Fatalf("provider: %v", err)
		}
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		if loc == "" {
			o.t.Fatalf("provider stopped at %s with %d", next, resp.StatusCode)
		}
		if next, err = next.Parse(loc); err != nil {
			o.t.Fatal(err)
		}
	}
	o.t.Fatalf("provider: too many redirects")
	return nil
}

// logoutToken is a back-channel logout token signed with the provider's
// own key (as it would send one); change adjusts its claims first.
func (o *testOP) logoutToken(sub, sid string, change func(*zoidc.LogoutTokenClaims)) string {
	o.t.Helper()
	key, err := o.storage.SigningKey(context.Background())
	if err != nil {
		o.t.Fatal(err)
	}
	claims := zoidc.NewLogoutTokenClaims(o.issuer, sub, zoidc.Audience{o.clientID}, time.Now().Add(2*time.Minute), fmt.Sprint(time.Now().UnixNano()), sid, 0)
	if change != nil {
		change(claims)
	}
	return o.sign(claims, key.Key(), key.ID())
}

// forgedLogoutToken is one signed by another key under the provider's key id.
func (o *testOP) forgedLogoutToken(sub string) string {
	o.t.Helper()
	key, err := o.storage.SigningKey(context.Background())
	if err != nil {
		o.t.Fatal(err)
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		o.t.Fatal(err)
	}
	claims := zoidc.NewLogoutTokenClaims(o.issuer, sub, zoidc.Audience{o.clientID}, time.Now().Add(2*time.Minute), "forged", "", 0)
	return o.sign(claims, other, key.ID())
}

func (o *testOP) sign(claims *zoidc.LogoutTokenClaims, key any, kid string) string {
	o.t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("logout+jwt"))
	if err != nil {
		o.t.Fatal(err)
	}
	payload, err := claims.MarshalJSON()
	if err != nil {
		o.t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		o.t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		o.t.Fatal(err)
	}
	return out
}
