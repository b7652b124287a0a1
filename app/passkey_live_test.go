package app

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	cdpwebauthn "github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"sessiond/models"
	"sessiond/models/testdb"
)

// passkeyServer serves on loopback under the name localhost: a relying
// party id must be a host name, and Chromium treats localhost (and its
// subdomains) as a secure context over plain http.
func passkeyServer(t *testing.T, db *models.DB, env map[string]string) (*testApp, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	if env == nil {
		env = map[string]string{}
	}
	env["BASE_URL"] = "http://localhost:" + port
	a, _ := liveServerOn(t, ln, db, env)
	return a, env["BASE_URL"]
}

// virtualAuthenticator gives the browser's tab a platform authenticator
// that holds discoverable credentials and verifies its user, the way a
// phone or laptop with a screen lock does, through the DevTools protocol.
func virtualAuthenticator(t *testing.T, ctx context.Context) cdpwebauthn.AuthenticatorID {
	t.Helper()
	var id cdpwebauthn.AuthenticatorID
	err := chromedp.Run(ctx, chromedp.ActionFunc(func(ctx context.Context) error {
		if err := cdpwebauthn.Enable().WithEnableUI(false).Do(ctx); err != nil {
			return err
		}
		var err error
		id, err = cdpwebauthn.AddVirtualAuthenticator(&cdpwebauthn.VirtualAuthenticatorOptions{
			Protocol: cdpwebauthn.AuthenticatorProtocolCtap2, Ctap2version: cdpwebauthn.Ctap2versionCtap21,
			Transport: cdpwebauthn.AuthenticatorTransportInternal, HasResidentKey: true,
			HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
		}).Do(ctx)
		return err
	}))
	if err != nil {
		t.Fatalf("virtual authenticator: %v", err)
	}
	return id
}

// browserSignOut presses the header's Sign out button.
func browserSignOut() chromedp.Tasks {
	return chromedp.Tasks{
		chromedp.Click(`.user-menu button[type="submit"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#email`, chromedp.ByQuery),
	}
}

// lastAMR is how the user's newest session was made.
func lastAMR(t *testing.T, db *models.DB, userID int64) models.AMR {
	t.Helper()
	var amr string
	err := db.NewSelect().Table("sessions").Column("amr").Where("user_id = ?", userID).OrderExpr("id DESC").Limit(1).Scan(context.Background(), &amr)
	if err != nil {
		t.Fatal(err)
	}
	return models.AMR(amr)
}

// TestBrowser_Passkey_Register_SecondFactor_Passwordless_Remove is a
// passkey's life in real Chromium with a virtual authenticator: added on
// the security page (recovery codes shown, as for a first factor), used as
// the second step after the password, then alone, then removed, after
// which it signs nobody in.
func TestBrowser_Passkey_Register_SecondFactor_Passwordless_Remove(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		start := time.Now()
		_, base := passkeyServer(t, db, nil)
		u := testdb.CreateUser(t, db, "passkey@example.com", models.RoleUser)
		ctx := newBrowser(t)
		virtualAuthenticator(t, ctx)

		var codes int
		var name string
		err := chromedp.Run(ctx,
			browserLogin(base, u.Email, "password123"),
			chromedp.Navigate(base+"/account/security"),
			chromedp.WaitVisible(`#passkey-add`, chromedp.ByQuery),
			chromedp.SendKeys(`#passkey-name`, "Test laptop", chromedp.ByQuery),
			chromedp.Click(`#passkey-add`, chromedp.ByQuery),
			chromedp.WaitVisible(`#passkey-codes`, chromedp.ByQuery),
			chromedp.Evaluate(`document.querySelectorAll('#passkey-codes-list li').length`, &codes),
			chromedp.Click(`#passkey-codes-next`, chromedp.ByQuery),
			chromedp.WaitVisible(`#passkey-list .passkey-name`, chromedp.ByQuery),
			chromedp.Text(`#passkey-list .passkey-name`, &name, chromedp.ByQuery),
		)
		if err != nil {
			t.Fatalf("register: %v", err)
		}
		if codes != models.RecoveryCodeCount || name != "Test laptop" {
			t.Fatalf("after registering: %d recovery codes shown, name %q", codes, name)
		}
		registered := time.Since(start)

		// The passkey as the second step after the password.
		var path string
		err = chromedp.Run(ctx,
			browserSignOut(),
			chromedp.SendKeys(`#email`, u.Email, chromedp.ByQuery),
			chromedp.SendKeys(`#password`, "password123", chromedp.ByQuery),
			chromedp.Submit(`#password`, chromedp.ByQuery),
			chromedp.WaitVisible(`#passkey-second-factor`, chromedp.ByQuery),
			chromedp.Click(`#passkey-second-factor`, chromedp.ByQuery),
			chromedp.WaitVisible(`.user-menu`, chromedp.ByQuery),
			chromedp.Evaluate(`location.pathname`, &path),
		)
		if err != nil || path != "/" {
			t.Fatalf("second factor: path %q, %v", path, err)
		}
		if amr := lastAMR(t, db, u.ID); amr != "pwd,webauthn" {
			t.Fatalf("second-factor session amr %q, want pwd,webauthn", amr)
		}

		// Alone: no email, no password.
		err = chromedp.Run(ctx,
			browserSignOut(),
			chromedp.Click(`#passkey-signin`, chromedp.ByQuery),
			chromedp.WaitVisible(`.user-menu`, chromedp.ByQuery),
		)
		if err != nil {
			t.Fatalf("passwordless: %v", err)
		}
		if amr := lastAMR(t, db, u.ID); amr != "webauthn" {
			t.Fatalf("passwordless session amr %q, want webauthn", amr)
		}

		// Removed, it signs nobody in.
		var refusal string
		err = chromedp.Run(ctx,
			chromedp.Navigate(base+"/account/security"),
			chromedp.WaitVisible(`#passkey-list`, chromedp.ByQuery),
			acceptConfirms(),
			chromedp.Click(`#passkey-list button.btn-danger`, chromedp.ByQuery),
			chromedp.WaitNotPresent(`#passkey-list`, chromedp.ByQuery),
			browserSignOut(),
			chromedp.Click(`#passkey-signin`, chromedp.ByQuery),
			chromedp.WaitVisible(`[data-passkey-error]`, chromedp.ByQuery),
			chromedp.Text(`[data-passkey-error]`, &refusal, chromedp.ByQuery),
		)
		if err != nil {
			t.Fatalf("remove: %v", err)
		}
		if !strings.Contains(refusal, "not accepted") {
			t.Fatalf("removed passkey: message %q", refusal)
		}
		if n := countRows(t, db, "factors", "user_id = ?", u.ID); n != 0 {
			t.Fatalf("%d factor rows left after removing the only passkey (recovery codes go with it)", n)
		}
		t.Logf("journey: register %v, whole %v", registered.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	})
}

// evalAsync evaluates a promise-returning expression and waits for it.
func evalAsync(expr string, res any) chromedp.Action {
	return chromedp.Evaluate(expr, res, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) })
}

// jsCreate is the browser's half of a registration run by hand in a page
// (DevTools evaluation is not bound by the page's CSP): options JSON in,
// credential JSON out, base64url as go-webauthn speaks it.
const jsCreate = `(async (json) => {
  const dec = s => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((s.length + 3) % 4)), c => c.charCodeAt(0)).buffer;
  const enc = b => btoa(String.fromCharCode(...new Uint8Array(b))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  const o = JSON.parse(json).publicKey;
  o.challenge = dec(o.challenge); o.user.id = dec(o.user.id);
  (o.excludeCredentials || []).forEach(c => c.id = dec(c.id));
  const cred = await navigator.credentials.create({publicKey: o});
  return JSON.stringify({id: cred.id, rawId: enc(cred.rawId), type: cred.type, clientExtensionResults: cred.getClientExtensionResults(),
    response: {clientDataJSON: enc(cred.response.clientDataJSON), attestationObject: enc(cred.response.attestationObject)}});
})`

// TestBrowser_Passkey_ForeignOrigin_Refused: a credential made for
// sessiond's relying party id on another origin is refused by the server.
// Chromium lets a page on evil.login.sessiond.test use the id of
// login.sessiond.test (a parent domain), so such a credential is real;
// both names point at loopback and count as secure contexts here.
func TestBrowser_Passkey_ForeignOrigin_Refused(t *testing.T) {
	db := testdb.SQLite(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	base, foreign := "http://login.sessiond.test:"+port, "http://evil.login.sessiond.test:"+port
	liveServerOn(t, ln, db, map[string]string{"BASE_URL": base})
	u := testdb.CreateUser(t, db, "foreign@example.com", models.RoleUser)
	ctx := newBrowser(t,
		chromedp.Flag("host-resolver-rules", "MAP *.sessiond.test 127.0.0.1"),
		chromedp.Flag("unsafely-treat-insecure-origin-as-secure", base+","+foreign))
	virtualAuthenticator(t, ctx)
	csrfJS := `document.querySelector('meta[name="csrf-token"]').content`

	var options, cred, answer string
	err = chromedp.Run(ctx,
		browserLogin(base, u.Email, "password123"),
		chromedp.Navigate(base+"/account/security"),
		chromedp.WaitVisible(`#passkey-add`, chromedp.ByQuery),
		evalAsync(`fetch('/account/passkeys/options', {method: 'POST', headers: {'Accept': 'application/json', 'X-CSRF-Token': `+csrfJS+`}}).then(r => r.text())`, &options),
		chromedp.Navigate(foreign+"/login"),
		chromedp.WaitVisible(`#email`, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatalf("options at the real origin: %v", err)
	}
	if err := chromedp.Run(ctx, evalAsync(jsCreate+`(`+jsString(options)+`)`, &cred)); err != nil {
		t.Fatalf("create at the foreign origin: %v", err)
	}
	err = chromedp.Run(ctx,
		chromedp.Navigate(base+"/account/security"),
		chromedp.WaitVisible(`#passkey-add`, chromedp.ByQuery),
		evalAsync(`fetch('/account/passkeys', {method: 'POST', headers: {'Accept': 'application/json', 'Content-Type': 'application/json', 'X-CSRF-Token': `+csrfJS+`},
			body: JSON.stringify({name: 'foreign', credential: JSON.parse(`+jsString(cred)+`)})}).then(async r => r.status + ' ' + await r.text())`, &answer),
	)
	if err != nil {
		t.Fatalf("finish at the real origin: %v", err)
	}
	if !strings.HasPrefix(answer, "400 ") || !strings.Contains(answer, "origin") {
		t.Fatalf("credential from a foreign origin: %s, want 400 naming the origin", answer)
	}
	if n := countRows(t, db, "factors", "user_id = ?", u.ID); n != 0 {
		t.Fatalf("a foreign-origin passkey was stored (%d rows)", n)
	}
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
