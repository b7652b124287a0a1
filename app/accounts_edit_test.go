package app

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"sessiond/models"
	"sessiond/models/testdb"
)

// Without a mail server an admin's edit applies at once (the new email
// unconfirmed), forward-auth passes the new name and email on with the
// next request, and bad edits change nothing.
func TestAdmin_EditNameAndEmail_NoSMTP_AppliesAtOnce_ForwardAuthSeesIt(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		f := newAdminFixture(t, db)
		path := "/admin/users/" + itoa(f.user.ID) + "/profile"
		if resp := f.uc.request("GET", "/auth/verify", nil, nil); resp.Header.Get("Remote-Email") != f.user.Email {
			t.Fatalf("forward-auth before: %q", resp.Header.Get("Remote-Email")) // and now cached
		}
		resp := f.ac.api("POST", path, url.Values{"name": {"Renamed <b>"}, "email": {" New@Example.test "}})
		body := readBody(t, resp)
		var got struct {
			User          struct{ Name, Email string }
			EmailVerified bool
			EmailPending  *string
		}
		if err := json.Unmarshal([]byte(body), &got); err != nil || resp.StatusCode != 200 || got.User.Email != "new@example.test" ||
			got.User.Name != "Renamed <b>" || got.EmailVerified || got.EmailPending != nil {
			t.Fatalf("edit: %d %s", resp.StatusCode, body)
		}
		vr := f.uc.request("GET", "/auth/verify", nil, nil)
		if vr.Header.Get("Remote-Email") != "new@example.test" || vr.Header.Get("Remote-Name") != "Renamed <b>" {
			t.Fatalf("forward-auth after the edit: %q %q, want the new email and name at once", vr.Header.Get("Remote-Email"), vr.Header.Get("Remote-Name"))
		}
		if n := countRows(t, db, "session_events", "kind = ? AND user_id = ? AND detail LIKE ?", models.EventUserUpdated, f.user.ID, "name email=console-user@example.com→new@example.test"); n != 1 {
			t.Fatalf("%d user.updated events with the change", n)
		}
		_, page := f.ac.page("/admin/users")
		if !strings.Contains(page, "Renamed &lt;b&gt;") || strings.Contains(page, "Renamed <b>") || !strings.Contains(page, "badge-unverified") {
			t.Fatal("the users page does not show the new name escaped, or the email as unconfirmed")
		}
		for name, c := range map[string]struct {
			form url.Values
			want int
		}{
			"another user's email": {url.Values{"name": {"X"}, "email": {f.admin.Email}}, 409},
			"not an email":         {url.Values{"name": {"X"}, "email": {"nope"}}, 422},
			"no name":              {url.Values{"name": {""}, "email": {"x@example.test"}}, 422},
		} {
			resp := f.ac.api("POST", path, c.form)
			if body := readBody(t, resp); resp.StatusCode != c.want || !strings.HasPrefix(body, `{"error":`) {
				t.Errorf("%s: %d %s, want %d", name, resp.StatusCode, body, c.want)
			}
		}
		if resp := f.ac.api("POST", "/admin/users/987654/profile", url.Values{"name": {"X"}, "email": {"x@example.test"}}); resp.StatusCode != 404 {
			t.Fatalf("unknown user: %d", resp.StatusCode)
		}
		u, _ := models.FindUser(t.Context(), db, f.user.ID)
		if u.Email != "new@example.test" || u.Name != "Renamed <b>" {
			t.Fatalf("refused edits changed the user: %+v", u)
		}
		// htmx, as the users page sends it: the table comes back with the change.
		hx := http.Header{"Hx-Request": {"true"}, "X-Csrf-Token": {f.ac.csrf}, "Content-Type": {"application/x-www-form-urlencoded"}}
		resp = f.ac.request("POST", path, strings.NewReader(url.Values{"name": {"Third"}, "email": {"new@example.test"}}.Encode()), hx)
		if body := readBody(t, resp); resp.StatusCode != 200 || !strings.Contains(body, `id="users-table"`) || !strings.Contains(body, "Third") {
			t.Fatalf("htmx edit: %d %s", resp.StatusCode, body)
		}
		f.uc.login("new@example.test", "password123")
	})
}

// With a mail server a new email waits for its link: the old one keeps
// working, the mail goes to the new address over SMTP, and following the
// link (once) makes it the account's confirmed email.
func TestAdmin_EditEmail_WithSMTP_VerifiedByMailedLink(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		box := newMailbox(t)
		a, _ := liveServer(t, db, mailEnv(box), box.clientTLS)
		admin := testdb.CreateUser(t, db, "root@example.test", models.RoleAdmin)
		user := testdb.CreateUser(t, db, "old@example.test", models.RoleUser)
		ac := a.client()
		ac.login(admin.Email, "password123")
		resp := ac.api("POST", "/admin/users/"+itoa(user.ID)+"/profile", url.Values{"name": {user.Name}, "email": {"fresh@example.test"}})
		if body := readBody(t, resp); resp.StatusCode != 200 || !strings.Contains(body, `"emailPending":"fresh@example.test"`) || !strings.Contains(body, `"email":"old@example.test"`) {
			t.Fatalf("edit: %d %s", resp.StatusCode, body)
		}
		uc := a.client()
		uc.login("old@example.test", "password123") // still the account's email

		got := box.wait(1)[0]
		if got.To != "fresh@example.test" {
			t.Fatalf("the link went to %q, want the new address", got.To)
		}
		m := parseMail(t, got.Raw)
		link := m.link(t)
		if !strings.Contains(link, "/email/verify?token=") || m.Header.Get("Subject") != "Confirm your email address" {
			t.Fatalf("mail %q with link %s", m.Header.Get("Subject"), link)
		}
		anon := a.client()
		resp, body := anon.page(pathOf(t, link))
		if resp.StatusCode != 200 || !strings.Contains(body, `id="email-verify-confirm"`) {
			t.Fatalf("the link's page: %d %s", resp.StatusCode, body)
		}
		if u, _ := models.FindUser(t.Context(), db, user.ID); u.Email != "old@example.test" {
			t.Fatal("opening the link changed the email: a mail scanner would confirm it")
		}
		token, _ := url.ParseQuery(strings.SplitN(link, "?", 2)[1])
		resp = anon.form("/email/verify", url.Values{"token": {token.Get("token")}})
		if body := readBody(t, resp); resp.StatusCode != 200 || !strings.Contains(body, "fresh@example.test is confirmed") {
			t.Fatalf("confirm: %d %s", resp.StatusCode, body)
		}
		u, _ := models.FindUser(t.Context(), db, user.ID)
		if u.Email != "fresh@example.test" || u.EmailVerifiedAt == nil {
			t.Fatalf("after the link: %q verified %v", u.Email, u.EmailVerifiedAt)
		}
		if resp := anon.form("/email/verify", url.Values{"token": {token.Get("token")}}); resp.StatusCode != 404 {
			t.Fatalf("the link a second time: %d, want 404", resp.StatusCode)
		}
		if n := countRows(t, db, "session_events", "kind = ? AND user_id = ?", models.EventEmailVerified, user.ID); n != 1 {
			t.Fatalf("%d user.email_verified events", n)
		}
		a.client().login("fresh@example.test", "password123")
	})
}

// REQUIRE_EMAIL_VERIFICATION without a mail server: the sign-in is refused
// with a clear message and a link is logged (once, however often they
// try); the admin copies a fresh link from the Mail page, the user
// follows it, and the sign-in works.
func TestRequireEmailVerification_NoSMTP_MailPageCopyLink_ThenSignIn(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a, _ := liveServer(t, db, map[string]string{"REQUIRE_EMAIL_VERIFICATION": "true"})
		admin, err := models.CreateUser(t.Context(), db, models.NewUser{Email: "root@example.test", Name: "Root", Role: models.RoleAdmin, Password: "password123", EmailVerified: true}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		user := testdb.CreateUser(t, db, "unconfirmed@example.test", models.RoleUser)
		ac := a.client()
		ac.login(admin.Email, "password123")
		uc := a.client()
		for range 2 {
			uc.page("/login")
			resp := uc.form("/login", url.Values{"email": {user.Email}, "password": {"password123"}})
			if body := readBody(t, resp); resp.StatusCode != http.StatusForbidden || !strings.Contains(strings.ToLower(body), "confirm your email address first") {
				t.Fatalf("sign-in while unconfirmed: %d %s", resp.StatusCode, body)
			}
		}
		if uc.signedIn() {
			t.Fatal("signed in with an unconfirmed email")
		}
		var job int64
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			ds, err := models.RecentDeliveries(t.Context(), db, "mail", 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(ds) != 1 && time.Now().After(deadline) || len(ds) > 1 {
				t.Fatalf("deliveries %+v: want one verification message", ds)
			}
			if len(ds) == 1 && ds[0].Status == models.DeliveryLogged {
				job = ds[0].JobID
				break
			}
		}
		if !strings.Contains(a.logs.String(), "/email/verify?token=") {
			t.Fatal("the verification link was not logged")
		}
		_, page := ac.page("/admin/mail")
		if !strings.Contains(page, "/admin/mail/"+itoa(job)+"/link") {
			t.Fatal("the Mail page offers no Copy link for the logged message")
		}
		resp := ac.api("POST", "/admin/mail/"+itoa(job)+"/link", url.Values{})
		var got struct{ Link string }
		if body := readBody(t, resp); resp.StatusCode != 200 || json.Unmarshal([]byte(body), &got) != nil || got.Link == "" {
			t.Fatalf("copy link: %d %s", resp.StatusCode, body)
		}
		token, _ := url.ParseQuery(strings.SplitN(got.Link, "?", 2)[1])
		uc.page(pathOf(t, got.Link))
		if resp := uc.form("/email/verify", url.Values{"token": {token.Get("token")}}); resp.StatusCode != 200 {
			t.Fatalf("confirm: %d", resp.StatusCode)
		}
		uc.login(user.Email, "password123")
	})
}

func TestCLI_UsersEdit_NameAndEmail_PendingWithSMTP(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		env := map[string]string{"DATABASE_URL": db.URL()}
		user := testdb.CreateUser(t, db, "cli-edit@example.test", models.RoleUser)
		out, err := runCLI(t, env, "", "users", "edit", "--email", user.Email, "--name", "Cli Name", "--new-email", "cli-new@example.test")
		if err != nil || !strings.Contains(out, "Cli Name <cli-new@example.test>") {
			t.Fatalf("edit without SMTP: %v %s", err, out)
		}
		box := newMailbox(t)
		withMail := mailEnv(box)
		withMail["DATABASE_URL"] = db.URL()
		out, err = runCLI(t, withMail, "", "users", "edit", "--email", "cli-new@example.test", "--new-email", "cli-third@example.test")
		if err != nil || !strings.Contains(out, "cli-third@example.test applies once") || !strings.Contains(out, "<cli-new@example.test>") {
			t.Fatalf("edit with SMTP: %v %s", err, out)
		}
		if n := countRows(t, db, "deliveries", "user_id = ? AND kind = ? AND recipient = ?", user.ID, mailEmailVerify, "cli-third@example.test"); n != 1 {
			t.Fatalf("%d verification messages queued, want 1", n)
		}
		if _, err := runCLI(t, env, "", "users", "edit", "--email", "cli-new@example.test", "--new-email", "bad"); err == nil {
			t.Fatal("a bad email was accepted")
		}
	})
}
