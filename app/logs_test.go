package app

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"sessiond/models"
	"sessiond/models/testdb"
)

func TestLogs_DebugJourney_NeverHoldTokenPasswordOrCSRF_AccessLineHasItsFields(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, map[string]string{"LOG_LEVEL": "debug", "METRICS_TOKEN": testMetricsToken})
		admin := testdb.CreateUser(t, db, "log-admin@example.com", models.RoleAdmin)
		secrets := map[string]string{"password": "password123", "metrics token": testMetricsToken}
		keep := func(name, v string) {
			if v != "" {
				secrets[name+" "+fmt.Sprint(len(secrets))] = v
			}
		}

		// A failed sign-in with a password of its own.
		stranger := a.client()
		stranger.page("/login")
		keep("csrf", stranger.csrf)
		stranger.form("/login", url.Values{"email": {admin.Email}, "password": {"Wr0ng-Secret-Pass"}}).Body.Close()
		secrets["wrong password"] = "Wr0ng-Secret-Pass"

		// Sign in, browse, use the API and an htmx fragment, export, scrape, sign out.
		c := a.client()
		c.login(admin.Email, "password123")
		token := c.cookie()
		keep("session token", token)
		keep("csrf", c.csrf)
		for _, p := range []string{"/", "/api/me", "/admin/audit", "/admin/insights", "/admin/audit?kind=nope"} {
			c.api("GET", p, nil).Body.Close()
		}
		c.request("GET", "/admin/audit", nil, http.Header{"HX-Request": {"true"}}).Body.Close()
		c.request("GET", "/admin/audit.csv", nil, nil).Body.Close()
		scrape(t, a, testMetricsToken)
		scrape(t, a, "wrong-metrics-token")
		_, _ = c.page("/")
		keep("csrf", c.csrf)
		c.form("/logout", nil).Body.Close()
		// A replay of the old cookie after sign-out.
		c.request("GET", "/api/me", nil, http.Header{"Accept": {"application/json"}, "Cookie": {a.srv.cfg.CookieName() + "=" + token}}).Body.Close()

		logs := a.logs.String()
		if !strings.Contains(logs, "level=DEBUG") {
			t.Fatal("no debug lines captured")
		}
		for name, v := range secrets {
			if strings.Contains(logs, v) {
				t.Fatalf("logs hold the %s", name)
			}
		}
		// Nor the full hash of the token (the DB key for the session).
		if strings.Contains(logs, models.HashToken(token)) {
			t.Fatal("logs hold the session token's hash")
		}

		access := regexp.MustCompile(`msg=request request_id=\S+ method=\S+ path=\S+ status=\d+ duration_ms=[0-9.]+ user_id=\d+`)
		lines := 0
		for _, line := range strings.Split(logs, "\n") {
			if strings.Contains(line, "msg=request ") {
				lines++
				if !access.MatchString(line) {
					t.Fatalf("access line lacks a field: %s", line)
				}
			}
		}
		if lines < 12 {
			t.Fatalf("%d access lines", lines)
		}
		if !strings.Contains(logs, fmt.Sprintf("user_id=%d", admin.ID)) {
			t.Fatal("no access line names the signed-in user")
		}
		if !regexp.MustCompile(`level=INFO msg="audit exported" request_id=\S+ ip=\S+ actor_id=` + fmt.Sprint(admin.ID) + ` actor_email=` + regexp.QuoteMeta(admin.Email)).MatchString(logs) {
			t.Fatal("admin action not logged at info with the actor")
		}
		for _, s := range []string{"session valid", "session cookie refused", "sign-in failed"} {
			if !strings.Contains(logs, s) {
				t.Fatalf("no %q decision in the debug log", s)
			}
		}
	})
}
