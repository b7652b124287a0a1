package app

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"sessiond/models"
	"sessiond/models/testdb"
)

func mailEnv(box *mailbox) map[string]string {
	return map[string]string{"SMTP_URL": box.url(), "MAIL_FROM": "Sessiond <sessiond@example.test>"}
}

// pathOf turns a link from a message into a path for the test client.
func pathOf(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	return u.RequestURI()
}

func TestMail_ForgotPassword_OverRealSMTP_LinkSetsPasswordAndEndsEverySession(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		box := newMailbox(t)
		a, _ := liveServer(t, db, mailEnv(box), box.clientTLS)
		user := testdb.CreateUser(t, db, "ana@example.test", "user")
		laptop := a.client()
		laptop.login(user.Email, "password123")

		phone := a.client()
		phone.page("/password/forgot")
		resp := phone.form("/password/forgot", url.Values{"email": {"  Ana@Example.test "}})
		if body := readBody(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(body, "on its way") {
			t.Fatalf("forgot: %d %s", resp.StatusCode, body)
		}

		got := box.wait(1)[0]
		if got.To != user.Email || got.From != "sessiond@example.test" {
			t.Fatalf("envelope from %q to %q", got.From, got.To)
		}
		m := parseMail(t, got.Raw)
		if subj := m.Header.Get("Subject"); subj != "Reset your password" {
			t.Fatalf("subject %q", subj)
		}
		link := m.link(t)
		if !strings.Contains(m.HTML, `href="`+strings.ReplaceAll(link, "&", "&amp;")+`"`) {
			t.Fatalf("the HTML part does not carry the same link %s:\n%s", link, m.HTML)
		}

		resp, body := phone.page(pathOf(t, link))
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `name="token"`) {
			t.Fatalf("reset form: %d %s", resp.StatusCode, body)
		}
		token, _ := url.ParseQuery(strings.SplitN(link, "?", 2)[1])
		resp = phone.form("/password/reset", url.Values{"token": {token.Get("token")}, "password": {"brand-new-pass"}, "confirm": {"brand-new-pass"}})
		if body := readBody(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(body, "Sign in with the new password") {
			t.Fatalf("reset: %d %s", resp.StatusCode, body)
		}
		if laptop.signedIn() {
			t.Fatal("the laptop's session survived the reset")
		}
		if n := countRows(t, db, "sessions", "user_id = ?", user.ID); n != 0 {
			t.Fatalf("%d sessions left after the reset", n)
		}
		if n := countRows(t, db, "session_events", "kind = ? AND user_id = ?", models.EventPasswordReset, user.ID); n != 1 {
			t.Fatalf("%d reset events, want 1", n)
		}
		// The link works once.
		resp = phone.form("/password/reset", url.Values{"token": {token.Get("token")}, "password": {"another-pass-1"}, "confirm": {"another-pass-1"}})
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("second use of the link: %d, want 404", resp.StatusCode)
		}
		phone.login(user.Email, "brand-new-pass")
		if d, err := models.RecentDeliveries(context.Background(), db, "mail", 10); err != nil || len(d) != 1 || d[0].Status != models.DeliverySent {
			t.Fatalf("deliveries %+v, %v: want one sent", d, err)
		}
	})
}

func TestMail_ForgotPassword_UnknownAddress_SameAnswerAndNoMail(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		box := newMailbox(t)
		a, _ := liveServer(t, db, mailEnv(box), box.clientTLS)
		testdb.CreateUser(t, db, "known@example.test", "user")
		answers := map[string]string{}
		for _, email := range []string{"known@example.test", "nobody@example.test"} {
			c := a.client()
			c.page("/password/forgot")
			resp := c.form("/password/forgot", url.Values{"email": {email}})
			body := readBody(t, resp)
			answers[email] = strings.ReplaceAll(body, c.csrf, "")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: %d", email, resp.StatusCode)
			}
		}
		if answers["known@example.test"] != answers["nobody@example.test"] {
			t.Fatal("the answer differs between a known and an unknown address")
		}
		box.wait(1)
		waitUntil(t, "the unknown address's job", func() bool {
			return countRows(t, db, "deliveries", "status = ?", models.DeliverySkipped) == 1
		})
		if n := len(box.all()); n != 1 {
			t.Fatalf("%d messages, want 1 (to the known address)", n)
		}
	})
}

func TestPasswordReset_BadInput_ClearErrorAndNothingChanged(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, nil)
		user := testdb.CreateUser(t, db, "bo@example.test", "user")
		ctx := context.Background()
		raw, err := models.MintUserToken(ctx, db, &models.UserToken{UserID: user.ID, Purpose: models.TokenReset}, models.ResetTokenTTL, a.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		c := a.client()
		c.page("/password/forgot")
		for _, tc := range []struct {
			name   string
			path   string
			form   url.Values
			status int
		}{
			{"invalid email", "/password/forgot", url.Values{"email": {"not-an-address"}}, 422},
			{"empty email", "/password/forgot", url.Values{"email": {""}}, 422},
			{"malformed token", "/password/reset", url.Values{"token": {"abc"}, "password": {"long-enough-1"}, "confirm": {"long-enough-1"}}, 404},
			{"unknown token", "/password/reset", url.Values{"token": {strings.Repeat("A", 43)}, "password": {"long-enough-1"}, "confirm": {"long-enough-1"}}, 404},
			{"short password", "/password/reset", url.Values{"token": {raw}, "password": {"short"}, "confirm": {"short"}}, 422},
			{"confirmation differs", "/password/reset", url.Values{"token": {raw}, "password": {"long-enough-1"}, "confirm": {"long-enough-2"}}, 422},
		} {
			resp := c.form(tc.path, tc.form)
			body := readBody(t, resp)
			if resp.StatusCode != tc.status || !strings.Contains(body, `role="alert"`) {
				t.Errorf("%s: %d, want %d with a message", tc.name, resp.StatusCode, tc.status)
			}
		}
		if resp, _ := c.page("/password/reset?token=" + strings.Repeat("B", 43)); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET with an unknown token: %d, want 404", resp.StatusCode)
		}
		// Expired: the link's 30 minutes are up.
		a.clock.Advance(models.ResetTokenTTL + time.Second)
		resp := c.form("/password/reset", url.Values{"token": {raw}, "password": {"long-enough-1"}, "confirm": {"long-enough-1"}})
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("expired token: %d, want 404", resp.StatusCode)
		}
		if !c.app.srv.cfg.Secure() && countRows(t, db, "session_events", "kind = ?", models.EventPasswordReset) != 0 {
			t.Fatal("a bad request reset a password")
		}
		u, _ := models.FindUser(ctx, db, user.ID)
		if !models.VerifyPassword(u.PasswordHash, "password123") {
			t.Fatal("the password changed")
		}
	})
}

func TestPasswordReset_NewerLinkOrPasswordChange_VoidsTheOlderLink(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, nil)
		user := testdb.CreateUser(t, db, "cy@example.test", "user")
		ctx := context.Background()
		mint := func() string {
			raw, err := models.MintUserToken(ctx, db, &models.UserToken{UserID: user.ID, Purpose: models.TokenReset}, models.ResetTokenTTL, a.clock.Now())
			if err != nil {
				t.Fatal(err)
			}
			return raw
		}
		first := mint()
		second := mint()
		if _, err := models.FindUserToken(ctx, db, first, models.TokenReset, a.clock.Now()); err != models.ErrBadLink {
			t.Fatalf("the older link still works after a newer one: %v", err)
		}
		if _, err := models.SetUserPassword(ctx, db, user.ID, "changed-by-user", 0, models.Audit{}, a.clock.Now()); err != nil {
			t.Fatal(err)
		}
		if _, err := models.FindUserToken(ctx, db, second, models.TokenReset, a.clock.Now()); err != models.ErrBadLink {
			t.Fatalf("a link survived a password change: %v", err)
		}
	})
}

func TestPasswordReset_RequestsThrottledPerAddressAndPerIP(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, nil)
		c := a.client()
		c.page("/password/forgot")
		status := func(email string) int {
			resp := c.form("/password/forgot", url.Values{"email": {email}})
			resp.Body.Close()
			return resp.StatusCode
		}
		for i := 0; i < 5; i++ {
			if s := status("dee@example.test"); s != http.StatusOK {
				t.Fatalf("request %d: %d", i+1, s)
			}
		}
		if s := status("dee@example.test"); s != http.StatusTooManyRequests {
			t.Fatalf("sixth request for one address: %d, want 429", s)
		}
		for i := 0; i < 25; i++ {
			status("other" + string(rune('a'+i)) + "@example.test")
		}
		if s := status("last@example.test"); s != http.StatusTooManyRequests {
			t.Fatalf("31st request from one IP: %d, want 429", s)
		}
		if n := countRows(t, db, "deliveries", ""); n != 30 {
			t.Fatalf("%d deliveries queued, want 30 (the refused ones queue nothing)", n)
		}
	})
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestConfig_SMTPURL_GarbageIsAClearErrorThatDoctorLists(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"SMTP_URL": "mail.example.com", "MAIL_FROM": "a@example.com"}, "SMTP_URL: scheme"},
		{map[string]string{"SMTP_URL": "http://mail.example.com", "MAIL_FROM": "a@example.com"}, "SMTP_URL: scheme"},
		{map[string]string{"SMTP_URL": "smtp://mail.example.com:99999", "MAIL_FROM": "a@example.com"}, "SMTP_URL: port"},
		{map[string]string{"SMTP_URL": "smtp://mail.example.com/x?y=1", "MAIL_FROM": "a@example.com"}, "no path or query"},
		{map[string]string{"SMTP_URL": "smtp://u:hunter2@mail.example.com"}, "needs MAIL_FROM"},
		{map[string]string{"MAIL_FROM": "a@example.com"}, "SMTP_URL is not"},
	} {
		_, err := LoadConfig(func(k string) string { return tc.env[k] })
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one naming %q", tc.env, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("the error shows the password: %v", err)
		}
	}
	env := map[string]string{"DATABASE_URL": testdb.SQLiteURL(t), "SMTP_URL": "smtp//broken", "MAIL_FROM": "a@example.com"}
	if out, err := runCLI(t, env, "", "doctor"); err == nil || !strings.Contains(out, "SMTP_URL") {
		t.Fatalf("doctor did not list SMTP_URL: %v %s", err, out)
	}
	cfg, err := LoadConfig(func(k string) string {
		return map[string]string{"SMTP_URL": "smtps://u:p@mail.example.com", "MAIL_FROM": "Login <login@example.com>"}[k]
	})
	if err != nil || cfg.SMTP.Addr() != "mail.example.com:465" {
		t.Fatalf("smtps: %v %+v", err, cfg.SMTP)
	}
}
