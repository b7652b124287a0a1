package app

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"sessiond/models"
	"sessiond/models/testdb"
)

const testMetricsToken = "metrics-token-for-tests-0123456789"

// scrape GETs /metrics with the token and returns series → value, keyed
// by the series as written (name{labels}).
func scrape(t *testing.T, a *testApp, token string) (int, map[string]float64) {
	t.Helper()
	req, _ := http.NewRequest("GET", testBase+"/metrics", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp := a.do(req)
	body := readBody(t, resp)
	out := map[string]float64{}
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, out
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("metrics Content-Type %q", ct)
	}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return resp.StatusCode, out
}

func TestMetrics_WithoutTokenConfigured_404_WrongOrMissingToken_401(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		off := newTestApp(t, db, nil)
		if st, _ := scrape(t, off, testMetricsToken); st != http.StatusNotFound {
			t.Fatalf("METRICS_TOKEN unset: %d, want 404", st)
		}
		on := newTestApp(t, db, map[string]string{"METRICS_TOKEN": testMetricsToken})
		for _, tok := range []string{"", "wrong", testMetricsToken + "x", testMetricsToken[:10]} {
			if st, _ := scrape(t, on, tok); st != http.StatusUnauthorized {
				t.Fatalf("token %q: %d, want 401", tok, st)
			}
		}
		req, _ := http.NewRequest("GET", testBase+"/metrics", nil)
		req.Header.Set("Authorization", "Basic "+testMetricsToken)
		if resp := on.do(req); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("Basic auth: %d", resp.StatusCode)
		}
		if st, m := scrape(t, on, testMetricsToken); st != http.StatusOK || m["sessiond_database_figures_up"] != 1 {
			t.Fatalf("right token: %d up=%v", st, m["sessiond_database_figures_up"])
		}
	})
}

func TestMetrics_AfterJourney_MatchTheDatabase_AndHTTPDurationsUseRouteTemplates(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, map[string]string{"METRICS_TOKEN": testMetricsToken})
		ctx := context.Background()
		admin := testdb.CreateUser(t, db, "m-admin@example.com", models.RoleAdmin)
		u := testdb.CreateUser(t, db, "m-user@example.com", models.RoleUser)
		v := testdb.CreateUser(t, db, "m-other@example.com", models.RoleUser)

		// Journey: sign-ins, a failed one, revokes, an expired session and a cleanup.
		ac := a.client()
		ac.login(admin.Email, "password123")
		for i := 0; i < 3; i++ {
			a.client().login(u.Email, "password123")
		}
		vc := a.client()
		vc.login(v.Email, "password123")
		if st := a.client().signIn(u.Email, "nope-nope", "203.0.113.9", "x"); st != http.StatusUnauthorized {
			t.Fatalf("failed sign-in: %d", st)
		}
		vs, _ := a.srv.sessions.GetSession(ctx, vc.cookie())
		if _, err := a.srv.sessions.DeleteSessionByID(ctx, vs.ID, models.EventSessionRevoked, models.Audit{ActorID: admin.ID}); err != nil {
			t.Fatal(err)
		}
		old, _ := models.NewToken()
		if _, err := a.srv.sessions.CreateSession(ctx, old, v.ID, a.clock.Now().Add(-time.Hour), models.Client{}); err != nil {
			t.Fatal(err)
		}
		old2, _ := models.NewToken()
		if _, err := a.srv.sessions.CreateSession(ctx, old2, v.ID, a.clock.Now().Add(-time.Minute), models.Client{}); err != nil {
			t.Fatal(err)
		}
		soon, _ := models.NewToken()
		if _, err := a.srv.sessions.CreateSession(ctx, soon, v.ID, a.clock.Now().Add(2*time.Hour), models.Client{}); err != nil {
			t.Fatal(err)
		}
		// One expired session stays for the expired gauge; cleanup takes the other.
		if _, err := a.srv.cleanup.Run(ctx, models.TriggerAdmin, models.Audit{}); err != nil {
			t.Fatal(err)
		}
		old3, _ := models.NewToken()
		a.srv.sessions.CreateSession(ctx, old3, v.ID, a.clock.Now().Add(-time.Second), models.Client{})
		// Run records as the cleanup job keeps them (one finished, one failed).
		now := a.clock.Now()
		if _, err := db.NewInsert().Table("cleanup_runs").Model(&map[string]any{
			"trigger": "schedule", "started_at": db.T(now.Add(-time.Minute)), "finished_at": db.T(now.Add(-50 * time.Second)), "deleted": 7, "error": "",
		}).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := db.NewInsert().Table("cleanup_runs").Model(&map[string]any{
			"trigger": "schedule", "started_at": db.T(now.Add(-30 * time.Second)), "finished_at": db.T(now.Add(-29 * time.Second)), "deleted": 0, "error": "boom",
		}).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		ac.api("GET", "/admin/audit?kind=session.created", nil).Body.Close()
		ac.api("GET", "/admin/audit?kind=bogus", nil).Body.Close()

		_, m := scrape(t, a, testMetricsToken)
		count := func(table, where string, args ...any) float64 {
			return float64(countRows(t, db, table, where, args...))
		}
		nowT := db.T(a.clock.Now())
		want := map[string]float64{
			`sessiond_sessions{state="active"}`:             count("sessions", "expires_at > ?", nowT),
			`sessiond_sessions{state="expired"}`:            count("sessions", "expires_at <= ?", nowT),
			`sessiond_sessions_expiring_24h`:                count("sessions", "expires_at > ? AND expires_at <= ?", nowT, db.T(a.clock.Now().Add(24*time.Hour))),
			`sessiond_signins_total{result="success"}`:      count("session_events", "kind = ?", models.EventSessionCreated),
			`sessiond_signins_total{result="failure"}`:      count("session_events", "kind = ?", models.EventSignInFailed),
			`sessiond_cleanup_runs_total{result="success"}`: count("cleanup_runs", "error = '' AND finished_at IS NOT NULL"),
			`sessiond_cleanup_runs_total{result="error"}`:   count("cleanup_runs", "error <> ''"),
		}
		var users, rows int64
		db.NewSelect().Table("sessions").ColumnExpr("COUNT(DISTINCT user_id)").Where("expires_at > ?", nowT).Scan(ctx, &users)
		db.NewSelect().Table("cleanup_runs").ColumnExpr("COALESCE(SUM(deleted), 0)").Scan(ctx, &rows)
		want["sessiond_users_with_sessions"] = float64(users)
		want["sessiond_cleanup_rows_total"] = float64(rows)
		// The newest successful run: the one inserted here, or one the cleanup itself recorded since.
		if last := m["sessiond_last_cleanup_success_timestamp_seconds"]; last < float64(now.Add(-50*time.Second).UnixNano())/1e9-0.001 || last > float64(now.UnixNano())/1e9+0.001 {
			t.Fatalf("last cleanup success %v, want between %v and %v", last, now.Add(-50*time.Second), now)
		}
		for _, kind := range models.EventKinds {
			want[fmt.Sprintf(`sessiond_events_total{kind=%q}`, kind)] = count("session_events", "kind = ?", kind)
		}
		for series, w := range want {
			got, ok := m[series]
			if !ok {
				t.Fatalf("%s missing from /metrics", series)
			}
			if diff := got - w; diff > 0.001 || diff < -0.001 {
				t.Fatalf("%s = %v, database says %v", series, got, w)
			}
		}
		// The journey's own figures, so the comparison above is not 0 = 0.
		if m[`sessiond_sessions{state="active"}`] != 5 || m[`sessiond_sessions{state="expired"}`] != 1 ||
			m[`sessiond_signins_total{result="failure"}`] != 1 || m[`sessiond_events_total{kind="session.revoked"}`] != 1 ||
			m["sessiond_users_with_sessions"] != 3 || m["sessiond_sessions_expiring_24h"] != 1 {
			t.Fatalf("journey figures: %v", m)
		}

		// Route templates, never raw URLs.
		if m[`sessiond_http_request_duration_seconds_count{method="GET",route="/admin/audit",status="200"}`] != 1 ||
			m[`sessiond_http_request_duration_seconds_count{method="GET",route="/admin/audit",status="400"}`] != 1 ||
			m[`sessiond_http_request_duration_seconds_count{method="POST",route="/login",status="303"}`] < 5 {
			t.Fatalf("http durations by route: %v", filterSeries(m, "sessiond_http_request_duration_seconds_count"))
		}
		for series := range m {
			if strings.Contains(series, "kind=") && strings.Contains(series, "route=") || strings.Contains(series, "?") {
				t.Fatalf("raw URL in a label: %s", series)
			}
		}

		// Cached: a new session shows only after the cache expires (forced here).
		if _, _, err := signInAs(a.srv.sessions, ctx, u.ID, models.Client{}); err != nil {
			t.Fatal(err)
		}
		if _, m2 := scrape(t, a, testMetricsToken); m2[`sessiond_sessions{state="active"}`] != 5 {
			t.Fatalf("figures recomputed within the TTL: %v", m2[`sessiond_sessions{state="active"}`])
		}
		a.srv.metrics.figures.reset()
		if _, m3 := scrape(t, a, testMetricsToken); m3[`sessiond_sessions{state="active"}`] != 6 {
			t.Fatalf("after refresh: %v", m3[`sessiond_sessions{state="active"}`])
		}
	})
}

func filterSeries(m map[string]float64, prefix string) map[string]float64 {
	out := map[string]float64{}
	for k, v := range m {
		if strings.HasPrefix(k, prefix) {
			out[k] = v
		}
	}
	return out
}

// TestMetrics_SessionCacheAndRefreshWrites_CountWhatThisProcessDid: with the
// cache on, requests of a cached session are hits and write nothing nor go
// to the database; with it off and SESSION_UPDATE_AGE=0, every request is
// one database lookup (one query: they come one at a time) and one
// extension write.
func TestMetrics_SessionCacheAndRefreshWrites_CountWhatThisProcessDid(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		u := testdb.CreateUser(t, db, "m-cache@example.com", models.RoleUser)
		delta := func(a *testApp, requests int) map[string]float64 {
			_, before := scrape(t, a, testMetricsToken)
			c := a.client()
			c.login(u.Email, "password123") // its last request caches the session
			_, mid := scrape(t, a, testMetricsToken)
			for range requests {
				a.clock.Advance(time.Second)
				if !c.signedIn() {
					t.Fatal("signed out")
				}
			}
			_, after := scrape(t, a, testMetricsToken)
			hit, miss := after[`sessiond_session_cache_lookups_total{result="hit"}`], after[`sessiond_session_cache_lookups_total{result="miss"}`]
			if r, ok := after["sessiond_session_cache_hit_ratio"]; !ok || (hit+miss > 0 && math.Abs(r-hit/(hit+miss)) > 1e-9) {
				t.Fatalf("hit ratio %v (present %v), want %v hits of %v lookups", r, ok, hit, hit+miss)
			}
			d := map[string]float64{"entries": after["sessiond_session_cache_entries"]}
			for _, k := range []string{`sessiond_session_cache_lookups_total{result="hit"}`, `sessiond_session_cache_lookups_total{result="miss"}`,
				`sessiond_session_refresh_writes_total{kind="extend"}`, `sessiond_session_refresh_writes_total{kind="touch"}`,
				"sessiond_session_db_lookups_total", "sessiond_session_db_lookup_queries_total"} {
				if _, ok := after[k]; !ok {
					t.Fatalf("no series %s", k)
				}
				d[k], d["login "+k] = after[k]-mid[k], mid[k]-before[k]
			}
			return d
		}

		d := delta(newTestApp(t, db, map[string]string{"METRICS_TOKEN": testMetricsToken, "SESSION_CACHE_TTL": "1m"}), 4)
		if d[`sessiond_session_cache_lookups_total{result="hit"}`] != 4 || d[`sessiond_session_cache_lookups_total{result="miss"}`] != 0 ||
			d[`sessiond_session_refresh_writes_total{kind="extend"}`] != 0 || d[`sessiond_session_refresh_writes_total{kind="touch"}`] != 0 ||
			d["entries"] != 1 || d[`login sessiond_session_cache_lookups_total{result="miss"}`] < 1 ||
			d["sessiond_session_db_lookups_total"] != 0 || d["sessiond_session_db_lookup_queries_total"] != 0 {
			t.Errorf("cache on: %v", d)
		}

		d = delta(newTestApp(t, db, map[string]string{"METRICS_TOKEN": testMetricsToken, "SESSION_CACHE_TTL": "0", "SESSION_UPDATE_AGE": "0"}), 4)
		if d[`sessiond_session_refresh_writes_total{kind="extend"}`] != 4 || d[`sessiond_session_refresh_writes_total{kind="touch"}`] != 0 ||
			d[`sessiond_session_cache_lookups_total{result="hit"}`] != 0 || d["entries"] != 0 ||
			d["sessiond_session_db_lookups_total"] != 4 || d["sessiond_session_db_lookup_queries_total"] != 4 {
			t.Errorf("cache off, update age 0: %v", d)
		}
	})
}
