package app

import (
	"net/http"
	"strings"
	"testing"

	"sessiond/models"
	"sessiond/models/testdb"
)

// TestProxyWarning_ForwardedForFromAnUntrustedAddress_LoggedOnce_ShownToAdmins:
// a reverse proxy left out of TRUSTED_PROXIES makes every visitor share
// its address (and one throttle count); sessiond says so once in the log
// and on every admin page, never to other users, and not at all when the
// address is trusted.
func TestProxyWarning_ForwardedForFromAnUntrustedAddress_LoggedOnce_ShownToAdmins(t *testing.T) {
	db := testdb.SQLite(t)
	admin := testdb.CreateUser(t, db, "proxy-admin@example.com", models.RoleAdmin)
	user := testdb.CreateUser(t, db, "proxy-user@example.com", models.RoleUser)
	const logLine = "X-Forwarded-For from an address TRUSTED_PROXIES does not name"

	trusted := newTestApp(t, db, map[string]string{"TRUSTED_PROXIES": "0.0.0.0"}) // app.Test's peer address
	tc := trusted.client()
	tc.login(admin.Email, "password123")
	tc.request("GET", "/", nil, http.Header{"X-Forwarded-For": {"203.0.113.5"}}).Body.Close()
	if _, body := tc.page("/admin/sessions"); strings.Contains(body, "setup-warning") || strings.Contains(trusted.logs.String(), logLine) {
		t.Fatal("warned although the peer is a trusted proxy")
	}

	a := newTestApp(t, db, nil)
	ac, uc := a.client(), a.client()
	ac.login(admin.Email, "password123")
	uc.login(user.Email, "password123")
	if _, body := ac.page("/admin/sessions"); strings.Contains(body, "setup-warning") {
		t.Fatal("warned before any request carried X-Forwarded-For")
	}
	for i := 0; i < 3; i++ {
		uc.request("GET", "/", nil, http.Header{"X-Forwarded-For": {"203.0.113.5"}}).Body.Close()
	}
	if n := strings.Count(a.logs.String(), logLine); n != 1 {
		t.Fatalf("logged %d times, want once:\n%s", n, a.logs.String())
	}
	_, body := ac.page("/admin/sessions")
	if !strings.Contains(body, `id="setup-warning"`) || !strings.Contains(body, "TRUSTED_PROXIES=0.0.0.0") {
		t.Fatalf("the admin console does not show the warning:\n%s", body)
	}
	if _, body := uc.page("/account/sessions"); strings.Contains(body, "setup-warning") {
		t.Fatal("a non-admin sees the setup warning")
	}
}
