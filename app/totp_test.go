package app

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"sessiond/models"
	"sessiond/models/testdb"
)

var (
	totpSecretRe   = regexp.MustCompile(`<code id="totp-secret" class="mono">([A-Z2-7]+)</code>`)
	recoveryCodeRe = regexp.MustCompile(`<li>([0-9a-z]{5}-[0-9a-z]{5})</li>`)
)

// codeAt is the code an authenticator app shows at t for secret.
func codeAt(t testing.TB, secret string, at time.Time) string {
	t.Helper()
	code, err := models.TOTPCode(secret, models.TOTPStep(at))
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// enrolTOTP sets up an authenticator app for the signed-in client through
// the security page and returns the key and the recovery codes shown.
func enrolTOTP(t *testing.T, a *testApp, c *client) (string, []string) {
	t.Helper()
	c.page("/account/security")
	resp := c.form("/account/totp", nil)
	body := readBody(t, resp)
	m := totpSecretRe.FindStringSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil || !strings.Contains(body, `src="data:image/png;base64,`) {
		t.Fatalf("start enrolment: status %d, key shown %v, inline QR %v", resp.StatusCode, m != nil, strings.Contains(body, "data:image/png"))
	}
	secret := m[1]
	resp = c.form("/account/totp/confirm", url.Values{"code": {codeAt(t, secret, a.clock.Now())}})
	body = readBody(t, resp)
	var codes []string
	for _, m := range recoveryCodeRe.FindAllStringSubmatch(body, -1) {
		codes = append(codes, m[1])
	}
	if resp.StatusCode != http.StatusOK || len(codes) != models.RecoveryCodeCount {
		t.Fatalf("confirm: status %d, %d recovery codes shown", resp.StatusCode, len(codes))
	}
	return secret, codes
}

// passwordStep signs in with the password and expects to be sent to the
// second step, with no session yet.
func passwordStep(t *testing.T, c *client, email string) {
	t.Helper()
	c.page("/login")
	resp := c.form("/login", url.Values{"email": {email}, "password": {"password123"}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != stepSecondFactor {
		t.Fatalf("password step: status %d, location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if c.signedIn() {
		t.Fatal("signed in after the password alone")
	}
	c.page(stepSecondFactor)
}

// submitCode posts a code to the second step and returns the status.
func submitCode(t *testing.T, c *client, code string) int {
	t.Helper()
	resp := c.form(stepSecondFactor, url.Values{"code": {code}})
	resp.Body.Close()
	return resp.StatusCode
}

func TestTOTP_EnrolThenSignInWithComputedCode_ReplayRefused_RecoveryOnce(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, nil)
		c, u := a.signIn("totp@example.com", models.RoleUser)
		secret, codes := enrolTOTP(t, a, c)
		c.form("/logout", nil).Body.Close()

		// The code that enrolled the key is spent: the same step again is a replay.
		passwordStep(t, c, u.Email)
		if got := submitCode(t, c, codeAt(t, secret, a.clock.Now())); got != http.StatusUnauthorized {
			t.Fatalf("replayed enrolment code: status %d, want 401", got)
		}
		a.clock.Advance(30 * time.Second)
		if got := submitCode(t, c, codeAt(t, secret, a.clock.Now())); got != http.StatusSeeOther || !c.signedIn() {
			t.Fatalf("fresh code: status %d, signed in %v", got, c.signedIn())
		}
		if s := sessionOf(t, a, c); s.AMR != "pwd,otp" || s.StrongAt.IsZero() {
			t.Fatalf("session amr %q strong_at %v, want pwd,otp and set", s.AMR, s.StrongAt)
		}
		used := codeAt(t, secret, a.clock.Now())
		c.form("/logout", nil).Body.Close()

		// The same code within its step, on a new sign-in: refused.
		passwordStep(t, c, u.Email)
		if got := submitCode(t, c, used); got != http.StatusUnauthorized {
			t.Fatalf("same code twice in its step: status %d, want 401", got)
		}

		// A recovery code works once.
		if got := submitCode(t, c, strings.ToUpper(codes[3])); got != http.StatusSeeOther {
			t.Fatalf("recovery code: status %d", got)
		}
		if s := sessionOf(t, a, c); s.AMR != "pwd,recovery" {
			t.Fatalf("amr %q, want pwd,recovery", s.AMR)
		}
		c.form("/logout", nil).Body.Close()
		passwordStep(t, c, u.Email)
		if got := submitCode(t, c, codes[3]); got != http.StatusUnauthorized {
			t.Fatalf("recovery code twice: status %d, want 401", got)
		}
		if n := countRows(t, db, "factors", "user_id = ? AND kind = ?", u.ID, models.FactorRecovery); n != models.RecoveryCodeCount-1 {
			t.Fatalf("%d recovery codes left, want %d", n, models.RecoveryCodeCount-1)
		}
	})
}

// TestTOTP_Window_OneStepEitherSideAccepted_TwoRefused moves the server's
// clock instead of waiting: codes of the steps 1 before and 1 after now
// work, 2 before or after do not.
func TestTOTP_Window_OneStepEitherSideAccepted_TwoRefused(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, nil)
		c, u := a.signIn("window@example.com", models.RoleUser)
		secret, _ := enrolTOTP(t, a, c)
		c.form("/logout", nil).Body.Close()
		for _, tc := range []struct {
			offset time.Duration
			want   int
		}{
			{-2 * 30 * time.Second, http.StatusUnauthorized},
			{+2 * 30 * time.Second, http.StatusUnauthorized},
			{-30 * time.Second, http.StatusSeeOther},
			{+30 * time.Second, http.StatusSeeOther},
		} {
			a.clock.Advance(10 * time.Minute) // every case on fresh steps
			passwordStep(t, c, u.Email)
			if got := submitCode(t, c, codeAt(t, secret, a.clock.Now().Add(tc.offset))); got != tc.want {
				t.Fatalf("code of now%+v: status %d, want %d", tc.offset, got, tc.want)
			}
			if tc.want == http.StatusSeeOther {
				c.form("/logout", nil).Body.Close()
			}
		}
	})
}

// TestTOTP_WrongCodesThrottled: a pending sign-in takes five wrong codes,
// and the user takes ten in the throttle's window, however many times the
// password is entered again; then even the right code waits (429).
func TestTOTP_WrongCodesThrottled(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, nil)
		c, u := a.signIn("throttle@example.com", models.RoleUser)
		secret, _ := enrolTOTP(t, a, c)
		c.form("/logout", nil).Body.Close()
		a.clock.Advance(time.Minute)
		right := codeAt(t, secret, a.clock.Now())
		wrong := "000000"
		if right == wrong {
			wrong = "111111"
		}
		wrongs := 0
		for round := 0; wrongs < 10; round++ {
			passwordStep(t, c, u.Email)
			for i := 1; i <= models.MaxPendingAttempts && wrongs < 10; i++ {
				got := submitCode(t, c, wrong)
				wrongs++
				if got != http.StatusUnauthorized {
					t.Fatalf("wrong code %d: status %d, want 401", wrongs, got)
				}
			}
			if wrongs%models.MaxPendingAttempts == 0 && submitCode(t, c, right) != http.StatusUnauthorized {
				t.Fatal("a pending sign-in outlived its wrong codes")
			}
		}
		passwordStep(t, c, u.Email)
		if got := submitCode(t, c, right); got != http.StatusTooManyRequests || c.signedIn() {
			t.Fatalf("right code after ten wrong: status %d, want 429", got)
		}
		if n := countRows(t, db, "session_events", "kind = ? AND user_id = ? AND detail = ?", models.EventSignInFailed, u.ID, "wrong second-factor code"); n != 10 {
			t.Fatalf("%d wrong-code events, want 10", n)
		}
	})
}

func TestTOTP_BadInput_ClearErrorNothingChanged(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, nil)
		c, u := a.signIn("bad@example.com", models.RoleUser)
		secret, _ := enrolTOTP(t, a, c)
		c.form("/logout", nil).Body.Close()
		a.clock.Advance(time.Minute)
		passwordStep(t, c, u.Email)
		code := codeAt(t, secret, a.clock.Now())
		for _, bad := range []string{"", "12 345", code[:3] + " " + code[3:], "12345a", "abcdef", "1234567", "１２３４５６", "' OR 1=1 --", strings.Repeat("9", 5000)} {
			resp := c.form(stepSecondFactor, url.Values{"code": {bad}})
			body := readBody(t, resp)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "enter the 6 digits") {
				t.Fatalf("code %.20q: status %d, want 400 with a message", bad, resp.StatusCode)
			}
		}
		if n := countRows(t, db, "session_events", "kind = ? AND user_id = ?", models.EventSignInFailed, u.ID); n != 0 {
			t.Fatalf("bad input counted as %d wrong codes", n)
		}
		// JSON clients get the same answer as JSON.
		resp := c.api("POST", stepSecondFactor, url.Values{"code": {"12a456"}})
		var e struct{ Error string }
		decodeJSON(t, resp, &e)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(e.Error, "code:") {
			t.Fatalf("JSON bad code: %d %q", resp.StatusCode, e.Error)
		}

		// Five minutes on, the held sign-in is gone: a right code is refused and no session is made.
		a.clock.Advance(models.PendingSignInTTL + time.Second)
		before := countRows(t, db, "sessions", "user_id = ?", u.ID)
		step := factorStep(t, db, u.ID)
		resp = c.form(stepSecondFactor, url.Values{"code": {codeAt(t, secret, a.clock.Now())}})
		body := readBody(t, resp)
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "sign in again") || c.signedIn() {
			t.Fatalf("after 5 minutes: status %d, want 401 asking to sign in again", resp.StatusCode)
		}
		if countRows(t, db, "sessions", "user_id = ?", u.ID) != before || factorStep(t, db, u.ID) != step {
			t.Fatal("an expired second step changed something")
		}
	})
}

func factorStep(t *testing.T, db *models.DB, userID int64) int64 {
	t.Helper()
	set, err := models.UserFactors(context.Background(), db, userID)
	if err != nil || set.TOTP == nil {
		t.Fatalf("factors: %v", err)
	}
	return set.TOTP.TOTPStep
}
